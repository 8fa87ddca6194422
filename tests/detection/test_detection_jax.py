"""The JAX tracer (adopt._sparse.detection.jax) against dense JAX derivatives and asdex.

Every function of the tables is checked (a) to contain the nonzeros of the dense ``jax.jacfwd``
Jacobian at several random points (a pattern must never miss a nonzero), (b) to equal asdex's
pattern where asdex is exact (asdex's pattern equals the union of the numerical patterns), and,
where our rules are exact, to equal the numerical pattern itself. Hessian patterns must be
symmetric and contain the nonzeros of ``jax.hessian``. Random programs built by hypothesis from
a pool of operations are checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import lax

from adopt._contexts import Cache, Constant
from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    SparsityDetectionError,
    TracerSparsityDetector,
)
from adopt.problems import brusselator_for

try:  # a peer to compare with (the bench extra); the other checks run without it
    import asdex
except ImportError:  # pragma: no cover - CI installs it
    asdex = None

RNG = np.random.default_rng(7)
N = 12
IDX = RNG.integers(0, N, size=9)  # repeated indices on purpose
PERM = RNG.permutation(N)
A_SPARSE = RNG.standard_normal((8, N)) * (RNG.random((8, N)) < 0.3)
MASK = RNG.random(N) < 0.5
KERNEL = np.array([1.0, 0.0, -2.0, 0.5])
KERNEL_2D = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 1.0]])


def jacobian_sparsity(f: Callable, x: Any, contexts: tuple = ()) -> sp.csr_array:
    return TracerSparsityDetector().jacobian_sparsity(f, x, *contexts, framework="jax")


def hessian_sparsity(f: Callable, x: Any, contexts: tuple = ()) -> sp.csr_array:
    return TracerSparsityDetector().hessian_sparsity(f, x, *contexts, framework="jax")


def _dense(M: Any) -> np.ndarray:
    return np.asarray(M.toarray() if sp.issparse(M) else M) != 0


def _points(n: int, count: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, n) for _ in range(count)]


def numerical_jacobian_pattern(f: Callable, x: np.ndarray, count: int = 3,
                               mode: str = "fwd") -> np.ndarray:
    """Union of the nonzeros of the dense Jacobian at ``count`` random points."""
    jac = jax.jacfwd(f) if mode == "fwd" else jax.jacrev(f)
    pts = jnp.asarray(np.stack([p.reshape(x.shape) for p in _points(x.size, count)]))
    J = np.asarray(jax.jit(jax.vmap(jac))(pts)).reshape(count, -1, x.size)
    return (J != 0).any(axis=0)


def numerical_hessian_pattern(f: Callable, x: np.ndarray, count: int = 3) -> np.ndarray:
    """Union of the nonzeros of the dense Hessian at ``count`` random points."""
    pts = jnp.asarray(np.stack([p.reshape(x.shape) for p in _points(x.size, count, seed=1)]))
    hess = jax.jacfwd(jax.jacfwd(f))  # forward over forward: while loops too
    H = np.asarray(jax.jit(jax.vmap(hess))(pts)).reshape(count, x.size, x.size)
    return (H != 0).any(axis=0)


def asdex_jacobian_pattern(f: Callable, x: np.ndarray) -> np.ndarray:
    if asdex is None:
        pytest.skip("asdex is not installed: pip install 'adopt[bench]'")
    P = asdex.jacobian_sparsity(f, jnp.asarray(x))
    M = np.zeros(P.shape, dtype=bool)
    M[np.asarray(P.rows), np.asarray(P.cols)] = True
    return M


def assert_superset(P: sp.csr_array, M: np.ndarray, what: str) -> None:
    missed = M & ~_dense(P)
    assert not missed.any(), f"{what}: pattern misses nonzeros at {np.argwhere(missed)[:5]}"


# ---------------------------------------------------------------------------------------------
# Jacobian table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    f: Callable
    shape: tuple = (N,)
    exact: bool = True  # our pattern equals the union of the numerical patterns
    mode: str = "fwd"  # dense reference: jax.jacfwd or jax.jacrev

    @property
    def x(self) -> np.ndarray:
        return np.linspace(0.3, 1.7, int(np.prod(self.shape))).reshape(self.shape)


def _arrowhead(x):
    return jnp.concatenate([jnp.sum(x)[None], x[1:] ** 2 + x[0] * x[1:]])


def _fori(x):
    return lax.fori_loop(0, N - 1, lambda i, c: c.at[i].add(c[i + 1] * x[i]), x)


def _scan_recurrence(x):
    def step(c, xi):
        return c * xi + 1.0, jnp.sin(c) + xi
    c, ys = lax.scan(step, 1.0, x)
    return jnp.concatenate([c[None], ys])


def _scan_matrix(x):
    X = x.reshape(3, 4)

    def step(c, row):
        return c + row**2, c * row
    c, ys = lax.scan(step, jnp.zeros(4), X)
    return jnp.concatenate([c, ys.ravel()])


def _while_counter(x):
    def body(s):
        i, v = s
        return i + 1, v.at[i].set(v[i] * v[i + 1])
    return lax.while_loop(lambda s: s[0] < 5, body, (0, x))[1]


def _while_converge(x):  # predicate depends on x: fixed point
    def body(s):
        v, k = s
        return 0.5 * (v + jnp.roll(v, 1)), k + 1
    return lax.while_loop(lambda s: (jnp.max(jnp.abs(s[0])) > 1.0) & (s[1] < 3), body,
                          (x, 0))[0]


def _cond(x):
    return lax.cond(x[0] > 0.0, lambda v: v[::-1] * 2.0, lambda v: jnp.sin(v) + v[0], x)


def _cond_const(x):
    return lax.cond(True, lambda v: v * v[0], lambda v: jnp.cos(v).sum() * v, x)


def _switch(x):
    return lax.switch(jnp.argmax(jnp.arange(3.0)), [lambda v: v, lambda v: v**2,
                                                    lambda v: jnp.roll(v, 2) * v], x)


@jax.jit
def _jitted_inner(v):
    return jnp.tanh(v[1:] - v[:-1])


def _jit_nested(x):
    return jax.jit(lambda v: _jitted_inner(v) * v[0])(x)


@jax.custom_jvp
def _custom(v):
    return jnp.sin(v) * jnp.roll(v, 1)


_custom.defjvp(lambda p, t: (_custom(p[0]), jnp.cos(p[0]) * jnp.roll(p[0], 1) * t[0]
                             + jnp.sin(p[0]) * jnp.roll(t[0], 1)))


@jax.custom_vjp
def _custom_vjp(v):
    return v * jnp.flip(v)


_custom_vjp.defvjp(lambda v: (_custom_vjp(v), v),
                   lambda v, g: (g * jnp.flip(v) + jnp.flip(g * v),))


def _conv2d(x):
    img = x.reshape(1, 3, 4, 1)  # NHWC
    k = jnp.asarray(KERNEL_2D).reshape(3, 3, 1, 1)  # HWIO
    out = lax.conv_general_dilated(img, k, (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return out.ravel()


def _conv_traced_kernel(x):
    img = jnp.asarray(np.arange(10.0)).reshape(1, 1, 10)
    k = x[:3].reshape(1, 1, 3)
    return lax.conv_general_dilated(img, k, (2,), ((1, 1),)).ravel() * x[3]


def _conv_grouped(x):  # NCH, two feature groups, stride 2, dilations, a kernel with zeros
    lhs = x.reshape(1, 4, 6)
    k = jnp.asarray(np.array([[[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]],
                              [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]],
                              [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
                              [[0.0, 0.0, 0.0], [0.0, 3.0, 0.0]]]))  # OIH, O=4, I=2
    out = lax.conv_general_dilated(lhs, k, (2,), ((2, 1),), lhs_dilation=(2,),
                                   rhs_dilation=(2,), feature_group_count=2)
    return out.ravel()


def _pool(x):
    X = x.reshape(3, 4)
    s = lax.reduce_window(X, 0.0, lax.add, (2, 2), (1, 1), "VALID")
    m = lax.reduce_window(X, -jnp.inf, lax.max, (1, 3), (1, 2), "SAME")
    return jnp.concatenate([s.ravel(), m.ravel()])


JAC_CASES = [
    Case("banded", lambda x: x[1:] * x[:-1] - 2.0 * x[1:]),
    Case("roll_stencil", lambda x: jnp.roll(x, 1) - 2.0 * x + jnp.roll(x, -1) ** 2),
    Case("stencil_2d", lambda x: (jnp.roll(x, 1, 0) + jnp.roll(x, -1, 1) - x).ravel(), (3, 4)),
    Case("arrowhead", _arrowhead),
    Case("block_diag_einsum", lambda x: jnp.einsum("ij,ik->ijk", x.reshape(3, 4),
                                                     x.reshape(3, 4)).ravel()),
    Case("block_sum_reshape", lambda x: jnp.sin(x.reshape(4, 3)).sum(axis=1)),
    Case("gather", lambda x: x[IDX] * x[PERM[:9]]),
    Case("take_along_axis", lambda x: jnp.take_along_axis(
        x.reshape(3, 4), jnp.asarray(PERM.reshape(3, 4) % 4), axis=1).ravel()),
    Case("scatter_add", lambda x: jnp.zeros(7).at[IDX % 7].add(x[:9] ** 2)),
    Case("scatter_set", lambda x: x.at[PERM[:5]].set(x[:5] * x[6])),
    Case("scatter_mul", lambda x: x.at[PERM[:4]].mul(x[8:12], unique_indices=True)),
    Case("scatter_min_max", lambda x: x.at[PERM[:3]].min(x[:3]).at[PERM[3:6]].max(x[3:6] ** 2),
         exact=False),
    Case("scatter_2d_window", lambda x: jnp.zeros((4, 5)).at[1:3, ::2].add(
        x.reshape(2, 6)[:, :3]).ravel()),
    Case("gather_2d", lambda x: x.reshape(3, 4)[jnp.asarray(IDX[:5] % 3), 1:3].ravel()),
    Case("gather_fill", lambda x: x.at[jnp.asarray([0, 5, 20, -30])].get(
        mode="fill", fill_value=0.0)),
    Case("gather_clip", lambda x: x.at[jnp.asarray([0, 5, 20, -30])].get(mode="clip")),
    Case("vmap_gather", lambda x: jax.vmap(lambda r, i: r[i])(
        x.reshape(3, 4), jnp.asarray([[0, 3], [1, 1], [2, 0]])).ravel()),
    Case("matmul_const", lambda x: jnp.asarray(A_SPARSE) @ x),
    Case("matmul_traced", lambda x: (x.reshape(3, 4) @ x.reshape(3, 4).T).ravel()),
    Case("batched_matmul", lambda x: jnp.matmul(x.reshape(3, 2, 2), x.reshape(3, 2, 2)).ravel()),
    Case("reductions", lambda x: jnp.stack([x.sum(), jnp.prod(x[:4]), x[4:8].max(),
                                            jnp.min(x[8:] ** 2), jnp.mean(x)]), exact=False),
    Case("axis_reductions", lambda x: jnp.concatenate([x.sum(0), x.max(1), jnp.prod(x, 0)]),
         (3, 4), exact=False),
    Case("cumsum", lambda x: jnp.cumsum(x[::-1]) * x),
    Case("cumprod_axis", lambda x: jnp.cumprod(x, axis=1).ravel(), (3, 4)),
    Case("cummax_logcumsumexp", lambda x: jnp.concatenate(
        [lax.cummax(x, reverse=True), lax.cumlogsumexp(x[:5])]), exact=False),
    Case("where_traced", lambda x: jnp.where(x > 1.0, x**2, jnp.sin(jnp.roll(x, 3))),
         exact=False),
    Case("where_const", lambda x: jnp.where(jnp.asarray(MASK), x, 0.0) + jnp.where(
        jnp.asarray(MASK), 0.0, x[::-1])),
    Case("triu", lambda x: jnp.triu(x.reshape(3, 4)).ravel() * 3.0),
    Case("sort", lambda x: jnp.sort(x.reshape(3, 4), axis=1).ravel(), exact=False),
    Case("argsort_take", lambda x: x[jnp.argsort(jnp.asarray(PERM))] * 2.0),
    Case("top_k", lambda x: lax.top_k(x.reshape(3, 4), 2)[0].ravel(), exact=False),
    Case("cond", _cond, exact=False),
    Case("cond_const", _cond_const),
    Case("switch", _switch),
    Case("scan_recurrence", _scan_recurrence),
    Case("scan_matrix", _scan_matrix),
    Case("fori_loop", _fori),
    Case("while_counter", _while_counter),
    Case("while_converge", _while_converge, exact=False),
    Case("jit_nested", _jit_nested),
    Case("softplus_relu", lambda x: jax.nn.softplus(x) + jax.nn.relu(x - 1.0) * x[0],
         exact=False),
    Case("logsumexp_rows", lambda x: jax.nn.logsumexp(x.reshape(3, 4), axis=1)),
    Case("softmax", lambda x: jax.nn.softmax(x.reshape(4, 3), axis=0).ravel()),
    Case("custom_jvp", lambda x: _custom(x)),
    Case("custom_vjp", lambda x: _custom_vjp(x), mode="rev"),
    Case("checkpoint", lambda x: jax.checkpoint(lambda v: jnp.exp(v[2:]) * v[:-2])(x)),
    Case("concat_pad_transpose", lambda x: jnp.pad(x.reshape(3, 4), ((1, 0), (0, 2))).T.ravel()
         * jnp.concatenate([x, x]), exact=False),  # padding zeros times x: like asdex
    Case("pad_interior_negative", lambda x: lax.pad(x, -1.0, ((-2, 3, 1),))),
    Case("pad_traced_value", lambda x: lax.pad(x[:4], x[5], ((1, 1, 1),))),
    Case("integer_pow", lambda x: x**3 - x**2 + x**1 + 0.0 * x**0),
    Case("pow_div", lambda x: (1.0 + x[:6] ** 2) ** x[6:] / (1.0 + x[::2] ** 2)),
    Case("convolve", lambda x: jnp.convolve(x, jnp.asarray(KERNEL), mode="same")),
    Case("conv2d", _conv2d),
    Case("conv_traced_kernel", _conv_traced_kernel),
    Case("reduce_window", _pool, exact=False),
    Case("conv_grouped", _conv_grouped, (24,)),
    Case("approx_top_k", lambda x: lax.approx_max_k(x.reshape(3, 4), 2)[0].ravel(), exact=False),
    Case("jitted_f", jax.jit(lambda x: jnp.sin(x[::2]) * x[1::2])),
    Case("dynamic_slices", lambda x: lax.dynamic_update_slice(
        x, lax.dynamic_slice(x, (9,), (3,)) ** 2, (20,))),
    Case("movement_misc", lambda x: jnp.concatenate(
        [jnp.tile(x[:2], 3), jnp.repeat(x[2:4], 2), jnp.stack([x[4:6], x[6:8]]).T.ravel(),
         jnp.split(x, [3, 5])[1], jnp.expand_dims(x[8], 0), jnp.squeeze(x[None, 9:10], 0),
         jnp.diag(x.reshape(3, 4)), jnp.flip(x.reshape(3, 4), 1)[0]])),
    Case("unstack", lambda x: jnp.unstack(x.reshape(3, 4))[1] * 2.0),
    Case("diff_norm", lambda x: jnp.concatenate([jnp.diff(x), jnp.linalg.norm(
        x.reshape(3, 4), axis=1)])),
    Case("stop_gradient_floor", lambda x: x * lax.stop_gradient(x[::-1]) + jnp.floor(x)),
    Case("clamp_abs_max", lambda x: jnp.clip(x, 0.5, x[0]) + jnp.abs(x) * jnp.maximum(x, x[1]),
         exact=False),
    Case("special", lambda x: jax.scipy.special.erf(x) + jnp.arctan2(x, x[::-1])
         + jax.nn.sigmoid(x) * jnp.log1p(x**2)),
    Case("float32_cast", lambda x: (x.astype(jnp.float32) ** 2).astype(x.dtype)),
    Case("int_cast_zero", lambda x: x.astype(jnp.int32).astype(x.dtype) * 2.0 + x[0]),
    Case("constant_output", lambda x: jnp.ones(3)),
    Case("identity", lambda x: x),
    Case("matrix_input", lambda x: (x @ x.T).ravel(), (3, 2)),
]


STRICT = pytest.mark.filterwarnings("error::adopt._sparse.detectors.ConservativeSparsityWarning")


@STRICT
@pytest.mark.parametrize("case", JAC_CASES, ids=lambda c: c.name)
def test_jacobian_contains_dense_and_matches_asdex(case: Case) -> None:
    x = case.x
    P = jacobian_sparsity(case.f, x)
    M = numerical_jacobian_pattern(case.f, x, mode=case.mode)
    assert P.shape == M.shape and P.dtype == bool
    assert_superset(P, M, case.name)
    if case.exact:
        assert (_dense(P) == M).all(), f"{case.name}: not exact"
    try:
        A = asdex_jacobian_pattern(case.f, x)
    except Exception:  # noqa: BLE001 - asdex lacks a rule: nothing to compare
        return
    if (A == M).all():  # asdex exact here: so must we be
        assert (_dense(P) == A).all(), f"{case.name}: differs from asdex"


def test_scatter_apply() -> None:  # no JAX derivative to compare with: the known pattern
    P = jacobian_sparsity(lambda x: x.at[PERM[3:6]].apply(jnp.sin) * 2.0, np.ones(N))
    assert (_dense(P) == np.eye(N, dtype=bool)).all()
    H = hessian_sparsity(lambda x: jnp.sum(x.at[PERM[3:6]].apply(jnp.sin)), np.ones(N))
    assert (_dense(H) == np.diag(np.isin(np.arange(N), PERM[3:6]))).all()


def test_generic_reductions_use_their_groups() -> None:
    def f(x):  # lax.reduce / lax.reduce_window with custom computations
        X = x.reshape(3, 4)
        r = lax.reduce((X, X**2), (0.0, 1.0),
                       lambda a, b: (a[0] * b[0] + a[1], a[1] * b[1]), (1,))[0]
        w = lax.reduce_window(X, 1.0, lambda a, b: a * b, (2, 2), (1, 1), "VALID")
        return jnp.concatenate([r, w.ravel()])

    P = _dense(jacobian_sparsity(f, np.ones(N)))
    rows = np.kron(np.eye(3, dtype=bool), np.ones((1, 4), dtype=bool))
    win = np.zeros((6, 12), dtype=bool)
    for i in range(2):
        for j in range(3):
            for di in range(2):
                win[i * 3 + j, (i + di) * 4 + j: (i + di) * 4 + j + 2] = True
    assert (P == np.vstack([rows, win])).all()
    H = _dense(hessian_sparsity(lambda x: jnp.sum(f(x)), np.ones(N)))
    assert (H == (rows.T @ rows) | (win.T.astype(int) @ win.astype(int) > 0)).all()


def test_brusselator_equals_asdex_and_has_six_per_row() -> None:
    for N_ in (4, 16):
        f = brusselator_for("jax", N_)
        x = np.ones(2 * N_ * N_)
        P = jacobian_sparsity(f, x)
        assert (np.diff(P.indptr) == 6).all()
        A = asdex_jacobian_pattern(f, x)
        assert (_dense(P) == A).all()


# ---------------------------------------------------------------------------------------------
# Hessian table
# ---------------------------------------------------------------------------------------------


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


HESS_CASES = [
    Case("rosenbrock", _rosenbrock),
    Case("separable", lambda x: jnp.sum(jnp.exp(x) + x**3)),
    Case("linear", lambda x: jnp.sum(3.0 * x) + x[0]),
    Case("gather_products", lambda x: jnp.sum(x[IDX] * x[PERM[:9]])),
    Case("quadratic_form", lambda x: x @ (jnp.asarray(A_SPARSE.T @ A_SPARSE) @ x)),
    Case("block_logsumexp", lambda x: jnp.sum(jax.nn.logsumexp(x.reshape(3, 4), axis=1))),
    Case("prod_blocks", lambda x: jnp.sum(jnp.prod(x.reshape(4, 3), axis=1))),
    Case("scan_chain", lambda x: lax.scan(lambda c, v: (c + jnp.sin(v * c), None), 0.5,
                                          x[:4])[0] + jnp.sum(x[4:] ** 2)),
    Case("predicate_does_not_leak", lambda x: jnp.sum(jnp.where(jnp.sum(x**2) > 1.0, x, -x)),
         ),
    Case("piecewise", lambda x: jnp.sum(jnp.maximum(x, 0.5) * 2.0 + jnp.abs(x))),
    Case("stop_gradient", lambda x: jnp.sum(x * lax.stop_gradient(jnp.exp(x)))),
    Case("cond_branches", lambda x: lax.cond(x[0] > 0, lambda v: jnp.sum(v[:3] ** 2),
                                             lambda v: v[4] * v[5], x), exact=False),
    Case("fori_loop", lambda x: jnp.sum(_fori(x))),
    Case("div_pow", lambda x: jnp.sum(x[:6] / x[6:] + x[:6] ** 3.0)),
    Case("softplus", lambda x: jnp.sum(jax.nn.softplus(x[:4]) * x[4:8])),
    Case("matrix_var", lambda x: jnp.sum(jnp.linalg.norm(x, axis=0)), (3, 4)),
]


@STRICT
@pytest.mark.parametrize("case", HESS_CASES, ids=lambda c: c.name)
def test_hessian_contains_dense_and_is_symmetric(case: Case) -> None:
    x = case.x
    H = hessian_sparsity(case.f, x)
    assert H.shape == (x.size, x.size)
    assert (H != H.T).nnz == 0
    M = numerical_hessian_pattern(case.f, x)
    assert_superset(H, M, case.name)
    if case.exact:
        assert (_dense(H) == M).all(), f"{case.name}: not exact"


def test_hessian_rosenbrock_tridiagonal_large() -> None:
    n = 2000
    H = hessian_sparsity(_rosenbrock, np.ones(n))
    i, j = H.nonzero()
    assert np.abs(i - j).max() == 1 and H.nnz == 3 * n - 2


def test_hessian_needs_scalar() -> None:
    with pytest.raises(ValueError, match="scalar"):
        hessian_sparsity(lambda x: x**2, np.ones(3))


# ---------------------------------------------------------------------------------------------
# Contexts, x64 off, loops beyond the unroll budget
# ---------------------------------------------------------------------------------------------


def test_contexts_are_constants() -> None:
    idx = np.array([2, 0, 1])
    A = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])

    def f(x, i, M, buf):
        return M @ x[i] + jnp.asarray(buf).at[0].set(x[1])[:2]

    P = jacobian_sparsity(f, np.ones(3), (Constant(idx), Constant(A), Cache(np.zeros(3))))
    assert (_dense(P) == np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)).all()


def _fresh_functions() -> list[Callable]:
    """New function objects and index arrays: JAX caches traces and converted NumPy constants,
    and x64 changes their dtypes."""
    idx, perm = IDX.copy(), PERM.copy()
    return [
        lambda x: x[idx] * x[perm[:9]],
        lambda x: jnp.zeros(7).at[idx % 7].add(x[:9] ** 2),
        lambda x: jnp.roll(x, 1) - 2.0 * x + jnp.roll(x, -1) ** 2,
        lambda x: lax.fori_loop(0, N - 1, lambda i, c: c.at[i].add(c[i + 1] * x[i]), x),
        lambda x: jnp.convolve(x, jnp.asarray(KERNEL, dtype=x.dtype), mode="same"),
        lambda x: jnp.asarray(A_SPARSE, dtype=x.dtype) @ x,
    ]


def test_x64_off_same_patterns_and_flag_untouched() -> None:
    x = np.linspace(0.3, 1.7, N)
    expected = [_dense(jacobian_sparsity(f, x)) for f in _fresh_functions()]
    with jax.enable_x64(False):
        for k, (f, E) in enumerate(zip(_fresh_functions(), expected)):
            P = jacobian_sparsity(f, x.astype(np.float32))
            assert (_dense(P) == E).all(), k
            assert not jax.config.jax_enable_x64
    assert jax.config.jax_enable_x64


def test_long_loops_fixed_point() -> None:
    L = 3000  # beyond the unroll budget: iterated to a fixed point

    def f(x):
        def step(c, t):
            c = c + 1e-3 * jnp.cos(t) * (jnp.roll(c, 1, axis=1) + c**2)
            return c, c[0, 0] * t
        c, ys = lax.scan(step, x.reshape(2, 5), jnp.arange(L, dtype=x.dtype))
        return jnp.concatenate([c.ravel(), ys[-3:]])

    P = jacobian_sparsity(f, np.ones(10))
    M = numerical_jacobian_pattern(f, np.ones(10), count=1)
    assert_superset(P, M, "long scan")
    assert (_dense(P) == M).all()  # the dependencies settle: exact
    assert P.nnz == 2 * 25 + 3 * 5


def test_long_loop_with_counter_index_is_conservative() -> None:
    n = 1000  # 999 steps: beyond the unroll budget, so the loop counter is unknown

    def f(x):
        return lax.fori_loop(0, n - 1, lambda i, c: c.at[i + 1].add(c[i] * 0.5), x)

    with pytest.warns(ConservativeSparsityWarning, match="index"):
        P = jacobian_sparsity(f, np.ones(n))
    assert P.shape == (n, n)
    # the exact pattern is the lower triangle; ours may be larger, never smaller
    assert _dense(P[[0, n - 1]])[1].all()


def test_unsettled_loop_is_widened() -> None:
    def f(x):  # the predicate depends on x; the pattern grows by one band a pass
        return lax.while_loop(lambda v: jnp.sum(v) < 1e3, lambda v: v + jnp.roll(v, 1) ** 2, x)

    with pytest.warns(ConservativeSparsityWarning, match="did not settle"):
        P = jacobian_sparsity(f, np.ones(80))
    assert P.nnz == 80 * 80


# ---------------------------------------------------------------------------------------------
# Errors and conservative fallbacks
# ---------------------------------------------------------------------------------------------


def test_python_control_flow_raises() -> None:
    def f(x):
        return x if x[0] > 0 else -x

    with pytest.raises(SparsityDetectionError, match="control flow"):
        jacobian_sparsity(f, np.ones(3))
    with pytest.raises(SparsityDetectionError):
        jacobian_sparsity(lambda x: x[: int(x[0])], np.ones(3))
    with pytest.raises(SparsityDetectionError):
        jacobian_sparsity(lambda x: x[x > 0], np.ones(3))
    with pytest.raises(SparsityDetectionError):
        jacobian_sparsity(lambda x: np.asarray(x) * 2.0, np.ones(3))


def test_unsupported_primitive_warns_and_is_superset() -> None:
    T = np.triu(RNG.standard_normal((5, 5))) + 3.0 * np.eye(5)

    def f(x):
        return jax.scipy.linalg.solve_triangular(jnp.asarray(T), x[:5] * x[5:]) + x[:5]

    with pytest.warns(ConservativeSparsityWarning, match="triangular_solve"):
        P = jacobian_sparsity(f, np.ones(10))
    assert_superset(P, numerical_jacobian_pattern(f, np.ones(10)), "triangular_solve")
    with pytest.warns(ConservativeSparsityWarning, match="triangular_solve"):
        H = hessian_sparsity(lambda x: jnp.sum(f(x)), np.ones(10))
    assert_superset(H, numerical_hessian_pattern(lambda x: jnp.sum(f(x)), np.ones(10)), "H")


def test_index_computed_from_x_warns_and_is_superset() -> None:
    def f(x):
        return x[jnp.argmax(x)] * x[:3]

    with pytest.warns(ConservativeSparsityWarning, match="gather|dynamic_slice"):
        P = jacobian_sparsity(f, np.ones(6))
    assert _dense(P)[0].all()
    assert_superset(P, numerical_jacobian_pattern(f, np.ones(6)), "argmax index")


def test_several_outputs_raise() -> None:
    with pytest.raises(SparsityDetectionError, match="one array"):
        jacobian_sparsity(lambda x: (x, x), np.ones(3))


def test_scalar_input_and_empty_scan() -> None:
    P = jacobian_sparsity(lambda x: jnp.sin(x) * 2.0, 1.5)
    assert P.shape == (1, 1) and P.nnz == 1
    P = jacobian_sparsity(lambda x: lax.scan(lambda c, v: (c * v, c), x[0], x[:0])[1], np.ones(3))
    assert P.shape == (0, 3)


def test_integer_x_is_promoted() -> None:
    P = jacobian_sparsity(lambda x: x[1:] * x[:-1], np.arange(4))
    assert P.nnz == 6


# ---------------------------------------------------------------------------------------------
# Property tests: random programs
# ---------------------------------------------------------------------------------------------

PN = 8
_C = np.random.default_rng(3)
P_PERM = _C.permutation(PN)
P_IDX = _C.integers(0, PN, PN)
P_MAT = _C.standard_normal((PN, PN)) * (_C.random((PN, PN)) < 0.25)
P_MASK = _C.random(PN) < 0.5

UNARY = {
    "sin": jnp.sin,
    "tanh": jnp.tanh,
    "square": lambda v: v**2,
    "softplus": jax.nn.softplus,
    "roll": lambda v: jnp.roll(v, 3),
    "flip": lambda v: v[::-1],
    "cumsum": jnp.cumsum,
    "sort": jnp.sort,
    "gather": lambda v: v[P_PERM],
    "gather_rep": lambda v: v[P_IDX],
    "scatter_add": lambda v: jnp.zeros(PN).at[P_IDX].add(v),
    "scatter_set": lambda v: v.at[P_PERM[:3]].set(v[:3] ** 2),
    "matmul": lambda v: jnp.asarray(P_MAT) @ v,
    "mask": lambda v: v * jnp.asarray(P_MASK),
    "block_sum": lambda v: jnp.repeat(v.reshape(4, 2).sum(1), 2),
    "shift_pad": lambda v: jnp.pad(v, (1, 0))[:-1],
    "swap_halves": lambda v: jnp.concatenate([v[4:], v[:4]]),
    "scan": lambda v: lax.scan(lambda c, a: (c * 0.5 + a, c * a), 0.0, v)[1],
    "cond": lambda v: lax.cond(v.sum() > 0, lambda w: w * w[0], lambda w: jnp.roll(w, 1), v),
    "where": lambda v: jnp.where(v > 0, v, jnp.exp(v[::-1])),
    "logsumexp": lambda v: v - jax.nn.logsumexp(v[:4]),
    "inner": lambda v: v * jnp.dot(v[:4], v[4:]),
    "fori": lambda v: lax.fori_loop(0, 3, lambda i, c: c.at[i].add(c[i + 1] * c[i]), v),
    "while": lambda v: lax.while_loop(
        lambda s: (s[1] < 2) & (jnp.sum(s[0]) < 100.0),
        lambda s: (s[0] * 1.1 + jnp.roll(s[0], 1) * s[0], s[1] + 1), (v, 0))[0],
    "convolve": lambda v: jnp.convolve(v, jnp.asarray([1.0, 0.0, 2.0]), mode="same"),
    "dynamic_update": lambda v: lax.dynamic_update_slice(v, v[:3] ** 2, (4,)),
    "pool": lambda v: lax.reduce_window(v, -jnp.inf, lax.max, (3,), (1,), "SAME"),
    "cumprod": jnp.cumprod,
    "argsort_gather": lambda v: v[jnp.argsort(v)] * v,  # index from x: conservative
    "segment_sum": lambda v: jnp.repeat(jax.ops.segment_sum(v, jnp.asarray(P_IDX % 3), 3),
                                        3)[:PN],
}
BINARY = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.0 + b**2),
    "max": jnp.maximum,
    "interleave": lambda a, b: jnp.stack([a[:4], b[4:]], axis=1).ravel(),
}

_step = st.one_of(
    st.tuples(st.just("u"), st.sampled_from(sorted(UNARY)), st.integers(0, 10), st.just(0)),
    st.tuples(st.just("b"), st.sampled_from(sorted(BINARY)), st.integers(0, 10),
              st.integers(0, 10)),
)
programs = st.lists(_step, min_size=1, max_size=6)


def _program(steps: list) -> Callable:
    def f(x):
        vals = [x]
        for kind, name, i, j in steps:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            vals.append(UNARY[name](a) if kind == "u" else BINARY[name](a, b))
        return vals[-1]

    return f


_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.filterwarnings("ignore::adopt._sparse.detectors.ConservativeSparsityWarning")
@_SETTINGS
@given(programs)
def test_random_programs_jacobian(steps: list) -> None:
    f = _program(steps)
    x = np.linspace(-1.0, 1.0, PN)
    P = jacobian_sparsity(f, x)
    assert_superset(P, numerical_jacobian_pattern(f, x, count=2), str(steps))


@pytest.mark.filterwarnings("ignore::adopt._sparse.detectors.ConservativeSparsityWarning")
@_SETTINGS
@given(programs)
def test_random_programs_hessian(steps: list) -> None:
    g = _program(steps)
    w = np.linspace(0.5, 1.5, PN)

    def f(x):
        return jnp.sum(g(x) * w)

    x = np.linspace(-1.0, 1.0, PN)
    H = hessian_sparsity(f, x)
    assert (H != H.T).nnz == 0
    assert_superset(H, numerical_hessian_pattern(f, x, count=2), str(steps))
