"""Sparsity detection: closed-form scenarios crossed with the NumPy, PyTorch and JAX tracers.

Each scenario is written once against a small framework adapter ``F`` and carries its exact
Jacobian / Hessian pattern. Random programs are checked against exact AD derivatives (PyTorch)
at several random points: a detected pattern must never miss a nonzero, and for NumPy and
PyTorch it must equal the numerical pattern where the rules are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from adopt import DenseSparsityDetector
from adopt._contexts import Cache, Constant
from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    KnownSparsityDetector,
    SparsityDetectionError,
    TracerSparsityDetector,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*torch.jit.script.*:DeprecationWarning"  # raised inside torch.func.hessian
)
DETECT = TracerSparsityDetector()
RNG = np.random.default_rng(20240607)


# ---------------------------------------------------------------------------------------------
# Framework adapters
# ---------------------------------------------------------------------------------------------


class Framework:
    """One array library seen through the names the scenarios use (``F.sum``, ``F.roll``, ...)."""

    COMMON = ("stack", "roll", "sum", "prod", "exp", "sin", "tanh", "abs", "log", "maximum",
              "where", "zeros_like")

    def __init__(self, name: str, xp, cat, floats, ints, functional: bool, cumsum_axis=None):
        self.name, self.xp, self.cat, self.functional = name, xp, cat, functional
        for op in self.COMMON:
            setattr(self, op, getattr(xp, op))
        self._floats, self._ints, self._cumsum_axis = floats, ints, cumsum_axis

    def x(self, a):
        return self._floats(a)

    const = x

    def idx(self, a):
        return self._ints(a)

    def cumsum(self, v):
        return self.xp.cumsum(v) if self._cumsum_axis is None else self.xp.cumsum(v, self._cumsum_axis)

    def zeros(self, m, like):
        if self.xp is np:  # like=: the NumPy tracer makes the buffer
            return np.zeros(m, like=like)
        return self.xp.zeros(m, dtype=like.dtype)

    def set(self, y, key, val):
        if self.functional:
            return y.at[key].set(val)
        y[key] = val
        return y


def _adapter(name: str) -> Framework:
    if name == "numpy":
        return Framework("numpy", np, np.concatenate, lambda a: np.asarray(a, dtype=np.float64),
                         lambda a: np.asarray(a, dtype=np.int64), functional=False)
    pytest.importorskip(name)
    if name == "torch":
        import torch

        return Framework("torch", torch, torch.cat,
                         lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64)),
                         lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64)),
                         functional=False, cumsum_axis=0)
    import jax.numpy as jnp

    return Framework("jax", jnp, jnp.concatenate,
                     lambda a: jnp.asarray(np.asarray(a, dtype=np.float32)),
                     lambda a: jnp.asarray(np.asarray(a, dtype=np.int32)), functional=True)


FRAMEWORKS = ["numpy", "torch", "jax"]


# ---------------------------------------------------------------------------------------------
# Closed-form scenarios
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    f: Callable  # f(x, F, *context values)
    x: np.ndarray
    jac: np.ndarray | None = None  # expected Jacobian pattern (y.size, x.size)
    hess: np.ndarray | None = None  # expected Hessian pattern of f (scalar f)
    contexts: tuple = ()  # (kind, numpy value) pairs, kind in {"constant", "cache"}


def banded(n, lo, hi):
    """Boolean n x n pattern with ones for lo <= column - row <= hi."""
    i, j = np.indices((n, n))
    return (j - i >= lo) & (j - i <= hi)


def brusselator(x, F, N, A=3.4, B=1.0, alpha=10.0):
    u = x[: N * N].reshape(N, N)
    v = x[N * N:].reshape(N, N)

    def lap(w):
        return F.roll(w, 1, 0) + F.roll(w, -1, 0) + F.roll(w, 1, 1) + F.roll(w, -1, 1) - 4 * w

    du = B + u**2 * v - (A + 1) * u + alpha * lap(u)
    dv = A * u - u**2 * v + alpha * lap(v)
    return F.cat([du.ravel(), dv.ravel()])


def brusselator_jac(N):
    NN = N * N
    P = np.zeros((2 * NN, 2 * NN), dtype=bool)
    for s in range(2):
        for i in range(N):
            for j in range(N):
                r = s * NN + i * N + j
                for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                    P[r, s * NN + ((i + di) % N) * N + (j + dj) % N] = True
                P[r, (1 - s) * NN + i * N + j] = True
    return P


def brusselator_hess(N):
    NN = N * N
    H = np.zeros((2 * NN, 2 * NN), dtype=bool)
    k = np.arange(NN)
    H[k, k] = H[k, NN + k] = H[NN + k, k] = True
    return H


def stencil_jac(N):
    P = np.zeros((N * N, N * N), dtype=bool)
    for i in range(N):
        for j in range(N):
            for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                P[i * N + j, ((i + di) % N) * N + (j + dj) % N] = True
    return P


def _sparse_matrix(n, density, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) * (rng.random((n, n)) < density)
    return A


A_QUAD = _sparse_matrix(7, 0.25, 1)
B_BLOCKS = np.random.default_rng(2).standard_normal((4, 3, 3)) + 5.0
IDX_GATHER = np.random.default_rng(3).integers(0, 7, size=9)
IDX_SCATTER = np.random.default_rng(4).permutation(10)[:6]
C_CONTEXT = np.random.default_rng(5).uniform(1.0, 2.0, size=6)


def _inplace(x, F):
    y = F.zeros_like(x)
    y = F.set(y, 0, x[0] ** 2)
    y = F.set(y, slice(1, None), x[1:] * x[:-1])
    return y


def _scatter(x, F):
    y = F.zeros(10, like=x)
    return F.set(y, F.idx(IDX_SCATTER), x * 2.0)


def _cache(x, F, c, buf):
    if F.functional:
        buf = F.set(buf, slice(None), x * c)
        return F.set(buf, 0, 0.0)
    buf[:] = x * c
    buf[0] = 0.0
    return buf * 1.0


def _arrowhead(n):
    P = np.zeros((n, n), dtype=bool)
    P[0, :] = P[:, 0] = True
    P[np.arange(n), np.arange(n)] = True
    return P


def _scatter_jac():
    P = np.zeros((10, 6), dtype=bool)
    P[IDX_SCATTER, np.arange(6)] = True
    return P


def _gather_jac():
    P = np.zeros((9, 7), dtype=bool)
    P[np.arange(9), IDX_GATHER] = True
    return P


def _matrix_x_jac():
    # y = X.T @ X for X of shape (3, 2): y[i, j] depends on columns i and j of X
    P = np.zeros((4, 6), dtype=bool)
    for i in range(2):
        for j in range(2):
            for k in range(3):
                P[i * 2 + j, k * 2 + i] = P[i * 2 + j, k * 2 + j] = True
    return P


def _cache_jac():
    P = np.eye(6, dtype=bool)
    P[0, 0] = False
    return P


def _ctx_jac():
    P = np.eye(6, dtype=bool)
    P[np.arange(1, 6), np.arange(5)] = True
    return P


SCENARIOS = [
    Scenario("banded_slices", lambda x, F: x[1:] * x[:-1] + x[:-1], np.ones(8),
             jac=banded(8, 0, 1)[:-1]),
    Scenario("banded_diff", lambda x, F: x[2:] - 2 * x[1:-1] + x[:-2], np.ones(8),
             jac=banded(8, 0, 2)[:-2]),
    Scenario("arrowhead",
             lambda x, F: F.cat([F.sum(x**2).reshape(1), x[1:] * x[0]]), np.ones(6),
             jac=_arrowhead(6)),
    Scenario("arrowhead_hessian",
             lambda x, F: F.sum(x**2) + x[0] * F.sum(x[1:]), np.ones(6), hess=_arrowhead(6)),
    Scenario("block_diagonal",
             lambda x, F: (F.const(B_BLOCKS) @ x.reshape(4, 3, 1)).reshape(-1), np.ones(12),
             jac=np.kron(np.eye(4), np.ones((3, 3))).astype(bool)),
    Scenario("stencil_roll",
             lambda x, F: (F.roll(x.reshape(5, 5), 1, 0) + F.roll(x.reshape(5, 5), -1, 0)
                           + F.roll(x.reshape(5, 5), 1, 1) + F.roll(x.reshape(5, 5), -1, 1)
                           - 4 * x.reshape(5, 5)).reshape(-1),
             np.ones(25), jac=stencil_jac(5)),
    Scenario("cubed_differences", lambda x, F: F.sum((x[1:] - x[:-1]) ** 3), np.ones(7),
             hess=banded(7, -1, 1)),
    Scenario("sum_of_squares", lambda x, F: F.sum(x**2), np.ones(5), hess=np.eye(5, dtype=bool)),
    Scenario("bilinear", lambda x, F: x[0] * x[1], np.ones(3),
             hess=np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)),
    Scenario("quadratic_form", lambda x, F: x @ (F.const(A_QUAD) @ x), np.ones(7),
             hess=(A_QUAD != 0) | (A_QUAD.T != 0)),
    Scenario("gather", lambda x, F: x[F.idx(IDX_GATHER)] ** 2, np.ones(7), jac=_gather_jac()),
    Scenario("scatter", _scatter, np.ones(6), jac=_scatter_jac()),
    Scenario("matrix_shaped_x", lambda x, F: (x.T @ x).reshape(-1), np.ones((3, 2)),
             jac=_matrix_x_jac()),
    Scenario("inplace_write", _inplace, np.ones(6), jac=banded(6, -1, 0)),
    Scenario("constant_context", lambda x, F, c: x * c + F.cat([x[:1] * 0, x[:-1]]), np.ones(6),
             jac=_ctx_jac(), contexts=(("constant", C_CONTEXT),)),
    Scenario("cache_context", _cache, np.ones(6), jac=_cache_jac(),
             contexts=(("constant", C_CONTEXT), ("cache", np.zeros(6)))),
    Scenario("brusselator", lambda x, F: brusselator(x, F, 4), np.ones(32),
             jac=brusselator_jac(4)),
    Scenario("brusselator_hessian",
             lambda x, F: F.sum(brusselator(x, F, 4) * F.const(np.linspace(1, 2, 32))),
             np.ones(32), hess=brusselator_hess(4)),
]


def _contexts(sc: Scenario, F) -> list:
    out = []
    for kind, value in sc.contexts:
        v = F.const(value)
        out.append(Constant(v) if kind == "constant" else Cache(v))
    return out


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_scenario(sc: Scenario, framework: str):
    F = _adapter(framework)
    f = lambda x, *c: sc.f(x, F, *c)  # noqa: E731
    x = F.x(RNG.uniform(0.5, 1.5, sc.x.shape))
    ctx = _contexts(sc, F)
    if sc.jac is not None:
        P = DETECT.jacobian_sparsity(f, x, *ctx, framework=framework)
        assert isinstance(P, sp.csr_array) and P.dtype == bool
        np.testing.assert_array_equal(P.toarray(), sc.jac)
    if sc.hess is not None:
        H = DETECT.hessian_sparsity(f, x, *ctx, framework=framework)
        assert isinstance(H, sp.csr_array) and H.dtype == bool
        np.testing.assert_array_equal(H.toarray(), sc.hess)


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_scenarios_match_autodiff(sc: Scenario):
    """The closed forms themselves: exact AD (torch) at random points never leaves them."""
    F = _adapter("torch")
    torch = F.xp
    f = lambda x: sc.f(x, F, *[c.value.clone() for c in _contexts(sc, F)])  # noqa: E731
    seen_j = np.zeros_like(sc.jac) if sc.jac is not None else None
    seen_h = np.zeros_like(sc.hess) if sc.hess is not None else None
    for _ in range(3):
        x = F.x(RNG.uniform(0.5, 1.5, sc.x.shape))
        if seen_j is not None:
            seen_j |= (torch.func.jacrev(f)(x).reshape(seen_j.shape) != 0).numpy()
        if seen_h is not None:
            seen_h |= (torch.func.hessian(f)(x).reshape(seen_h.shape) != 0).numpy()
    if seen_j is not None:
        np.testing.assert_array_equal(seen_j, sc.jac)
    if seen_h is not None:
        np.testing.assert_array_equal(seen_h, sc.hess)


# ---------------------------------------------------------------------------------------------
# Random programs against exact AD
# ---------------------------------------------------------------------------------------------


def random_program(seed: int, n: int, smooth_only: bool):
    """A random composition of ops on random index maps; returns f(x, F, hessian)."""
    rng = np.random.default_rng(seed)
    steps = []
    sizes = [n]
    for _ in range(rng.integers(3, 7)):
        a, b = rng.integers(0, len(sizes), 2)
        m = int(rng.integers(2, 9))
        kinds = ["gather_unary", "mul", "add", "div", "matmul", "roll", "cumsum", "where",
                 "scatter", "concat", "prod"]
        if not smooth_only:
            kinds += ["abs", "maximum"]
        kind = str(rng.choice(kinds))
        spec = dict(kind=kind, a=int(a), b=int(b), m=m,
                    ia=rng.integers(0, sizes[a], m), ib=rng.integers(0, sizes[b], m),
                    unary=str(rng.choice(["exp", "sin", "tanh", "square", "cube", "log1psq"])),
                    M=_random_matrix(rng, m, sizes[a]),
                    shift=int(rng.integers(1, max(2, sizes[a]))),
                    mask=rng.random(m) < 0.5,
                    target=rng.permutation(m))
        if kind == "roll" or kind == "cumsum":
            spec["m"] = sizes[a]
        elif kind == "concat":
            spec["m"] = sizes[a] + sizes[b]
        elif kind == "prod":
            spec["m"] = m // 2 if m >= 2 else 1
            spec["ia"] = rng.integers(0, sizes[a], 2 * spec["m"])
        steps.append(spec)
        sizes.append(spec["m"])
    weights = [rng.uniform(0.5, 1.5, s) for s in sizes]

    def unary(v, name, F):
        if name == "square":
            return v**2
        if name == "cube":
            return v**3
        if name == "log1psq":
            return F.log(1.0 + v**2)
        return getattr(F, name)(v)

    def f(x, F, hessian=False):
        vals = [x]
        for s in steps:
            va, vb = vals[s["a"]], vals[s["b"]]
            ga = va[F.idx(s["ia"])]
            gb = vb[F.idx(s["ib"])]
            k = s["kind"]
            if k == "gather_unary":
                out = unary(ga, s["unary"], F)
            elif k == "mul":
                out = ga * gb
            elif k == "add":
                out = ga + 2.0 * gb
            elif k == "div":
                out = ga / (1.0 + gb**2)
            elif k == "matmul":
                out = F.const(s["M"]) @ va
            elif k == "roll":
                out = F.roll(va, s["shift"], 0) * 1.5
            elif k == "cumsum":
                out = F.cumsum(va)
            elif k == "where":
                out = F.where(F.const(s["mask"]) > 0, ga, gb)
            elif k == "scatter":
                out = F.set(F.zeros(s["m"], like=x), F.idx(s["target"]), ga * gb)
            elif k == "concat":
                out = F.cat([va, vb])
            elif k == "prod":
                out = F.prod(ga.reshape(-1, 2), 1)
            elif k == "abs":
                out = F.abs(ga - 0.1) * gb
            else:  # maximum
                out = F.maximum(ga, gb)
            vals.append(out)
        if hessian:
            return sum(F.sum(v * F.const(w)) for v, w in zip(vals, weights))
        return F.cat([v * F.const(w) for v, w in zip(vals, weights)])

    return f


def _random_matrix(rng, m, k):
    """Sparse random (m, k) matrix without zero rows (a zero row would be an exact zero)."""
    M = rng.standard_normal((m, k)) * (rng.random((m, k)) < 0.3)
    M[np.arange(m), rng.integers(0, k, m)] = rng.uniform(1.0, 2.0, m)
    return M


def _numeric_patterns(f, n, hessian, points=4):
    F = _adapter("torch")
    torch = F.xp
    seen = None
    for _ in range(points):
        x = F.x(RNG.uniform(0.3, 1.7, n) * RNG.choice([-1.0, 1.0], n))
        g = lambda v: f(v, F, hessian)  # noqa: E731
        M = torch.func.hessian(g)(x) if hessian else torch.func.jacrev(g)(x)
        M = (M.reshape(-1, n) != 0).numpy()
        seen = M if seen is None else seen | M
    return seen


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("hessian", [False, True], ids=["jacobian", "hessian"])
def test_random_programs(framework: str, hessian: bool):
    F = _adapter(framework)
    pytest.importorskip("torch")
    for seed in range(10):
        smooth = seed % 2 == 0
        n = 6 + seed % 4
        f = random_program(seed, n, smooth_only=smooth)
        g = lambda x: f(x, F, hessian)  # noqa: E731
        x = F.x(RNG.uniform(0.5, 1.5, n))
        method = DETECT.hessian_sparsity if hessian else DETECT.jacobian_sparsity
        P = method(g, x, framework=framework).toarray()
        N = _numeric_patterns(f, n, hessian)
        assert P.shape == N.shape
        missed = N & ~P
        assert not missed.any(), f"seed {seed}: detection missed {np.argwhere(missed)[:5]}"
        if smooth and framework in ("numpy", "torch"):
            np.testing.assert_array_equal(P, N, err_msg=f"seed {seed}: not exact")


# ---------------------------------------------------------------------------------------------
# Errors, warnings, the other detectors
# ---------------------------------------------------------------------------------------------


def _branchy(F):
    return lambda x: x * 2 if x[0] > 0 else -x


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_value_dependent_control_flow_raises(framework):
    F = _adapter(framework)
    with pytest.raises(SparsityDetectionError, match="cannot follow control flow on the values of x"):
        DETECT.jacobian_sparsity(_branchy(F), F.x(np.ones(3)), framework=framework)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_value_dependent_index_and_scalar_raise(framework):
    F = _adapter(framework)
    x = F.x(np.ones(3))
    with pytest.raises(SparsityDetectionError, match="DenseSparsityDetector"):
        DETECT.jacobian_sparsity(lambda x: x[x > 0], x, framework=framework)
    with pytest.raises(SparsityDetectionError, match="DenseSparsityDetector"):
        DETECT.jacobian_sparsity(lambda x: x * float(x[0]), x, framework=framework)


@pytest.mark.parametrize("framework,f,op", [
    ("numpy", lambda x: np.linalg.svd(x.reshape(2, 2))[1], "svd"),
    ("torch", lambda x: __import__("torch").linalg.svdvals(x.reshape(2, 2)), "_linalg_svd"),
])
def test_unknown_op_warns_and_is_conservative(framework, f, op):
    F = _adapter(framework)
    with pytest.warns(ConservativeSparsityWarning, match=op):
        P = DETECT.jacobian_sparsity(f, F.x(np.arange(1.0, 5.0)), framework=framework)
    assert P.toarray().all()


def test_known_detector():
    P = sp.lil_array((3, 4))
    P[0, 1] = P[2, 3] = 1.0
    P[1, 1] = 0.0  # explicit zero is not structural
    det = KnownSparsityDetector(P)
    f = lambda x: x[:-1] * x[1:]  # noqa: E731
    out = det.jacobian_sparsity(f, np.ones(4), framework="numpy")
    assert out.dtype == bool and out.nnz == 2
    with pytest.raises(ValueError) as err:
        det.jacobian_sparsity(f, np.ones(5), framework="numpy")
    assert str(err.value) == (
        "KnownSparsityDetector: pattern has shape (3, 4) but the Jacobian of f at x is (4, 5); "
        "pass a pattern of shape (4, 5)"
    )
    H = KnownSparsityDetector(np.tril(np.ones((3, 3)))).hessian_sparsity(
        lambda x: x.sum(), np.ones(3), framework="numpy")
    assert H.toarray().all()
    with pytest.raises(ValueError, match=r"the Hessian of f at x is \(2, 2\)"):
        KnownSparsityDetector(np.eye(3)).hessian_sparsity(np.sum, np.ones(2), framework="numpy")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_dense_detector_atol(framework):
    F = _adapter(framework)
    w = F.const(np.array([1.0, 1e-3, 2.0, 0.0]))
    f = lambda x: x * w + x[0] ** 2 * F.const(np.array([0.0, 0.0, 0.0, 1.0]))  # noqa: E731
    x = F.x(np.ones(4))
    P0 = DenseSparsityDetector(backend=None).jacobian_sparsity(f, x, framework=framework)
    P1 = DenseSparsityDetector(backend=None, atol=1e-2).jacobian_sparsity(f, x, framework=framework)
    assert P0.toarray().tolist() == (np.diag([1, 1, 1, 0]).astype(bool) | (np.arange(16).reshape(4, 4) == 12)).tolist()
    assert P1.toarray()[1, 1] == False  # noqa: E712
    g = lambda x: x[0] * x[1] + x[2] ** 3  # noqa: E731
    H = DenseSparsityDetector(backend=None, atol=1e-3).hessian_sparsity(g, x, framework=framework)
    np.testing.assert_array_equal(
        H.toarray(), np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], bool))


def test_local_detector_follows_control_flow():
    P = DenseSparsityDetector(backend=None).jacobian_sparsity(
        _branchy(_adapter("numpy")), np.ones(3), framework="numpy")
    np.testing.assert_array_equal(P.toarray(), np.eye(3, dtype=bool))


def test_bad_framework_and_nonscalar_hessian():
    with pytest.raises(ValueError, match="framework must be one of"):
        DETECT.jacobian_sparsity(np.sin, np.ones(2), framework="tensorflow")
    with pytest.raises(ValueError, match="scalar output"):
        DETECT.hessian_sparsity(np.sin, np.ones(2), framework="numpy")


# ---------------------------------------------------------------------------------------------
# A larger Brusselator: N = 128, n = 32768 (times are measured in benchmarks/detection.py)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_brusselator_n128_six_per_row(framework):
    F = _adapter(framework)
    N = 128
    x = F.x(np.ones(2 * N * N))
    P = DETECT.jacobian_sparsity(lambda x: brusselator(x, F, N), x, framework=framework)
    assert P.shape == (2 * N * N, 2 * N * N)
    assert np.all(np.diff(P.indptr) == 6)
