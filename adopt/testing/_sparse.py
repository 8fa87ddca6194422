"""Sparse conformance scenarios: functions with known Jacobian / Hessian patterns.

Each function is written once against the array API (``array_namespace``) and runs under
AutoFiniteDiff (NumPy), AutoJAX and AutoTorch. ``check_sparse_backend`` prepares a sparse
Jacobian or Hessian at one point, runs it at another (twice), and compares the detected pattern
with the closed-form one, the coloring with the coloring checks, and the values with the dense
operator of the same backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["SparseScenario", "sparse_scenarios", "check_sparse_backend"]


def _xp(x: Any) -> Any:
    from array_api_compat import array_namespace

    return array_namespace(x)


@dataclass(frozen=True)
class SparseScenario:
    """A function with a known sparsity pattern.

    Attributes
    ----------
    name : str
    operator : {"jacobian", "hessian"}
    f : callable
        ``f(x)``, written against the array API.
    x, prep_x : np.ndarray
        Execution and preparation points (float64).
    pattern : scipy.sparse.csr_array
        The exact pattern a global detector must find.
    """

    name: str
    operator: str
    f: Callable[[Any], Any] = field(repr=False)
    x: np.ndarray = field(repr=False)
    prep_x: np.ndarray = field(repr=False)
    pattern: sp.csr_array = field(repr=False)


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n)


def _banded(n: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        inner = x[1:-1] ** 2 - x[:-2] * xp.sin(x[2:])
        return xp.concat([x[:1] * 2.0, inner, x[-1:] ** 3])

    P = sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1])
    P = P.tolil()
    P[0, 1] = P[n - 1, n - 2] = 0
    return SparseScenario("banded", "jacobian", f, *_points(n, 1), sp.csr_array(P != 0))


def _arrowhead(n: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        return xp.concat([xp.reshape(xp.sum(x**2), (1,)), x[1:] * x[:1]])

    P = np.eye(n, dtype=bool)
    P[0, :] = P[:, 0] = True
    return SparseScenario("arrowhead", "jacobian", f, *_points(n, 2), sp.csr_array(P))


def _block_diagonal(nb: int, b: int) -> SparseScenario:
    M = np.random.default_rng(3).uniform(-1, 1, (b, b))

    def f(x: Any) -> Any:
        xp = _xp(x)
        X = xp.reshape(xp.tanh(x), (nb, b))
        return xp.reshape(X @ xp.asarray(M, dtype=x.dtype), (nb * b,))

    P = sp.block_diag([np.ones((b, b))] * nb)
    return SparseScenario("block_diagonal", "jacobian", f, *_points(nb * b, 4), sp.csr_array(P != 0))


def _stencil(N: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        U = xp.reshape(x, (N, N))
        lap = (xp.roll(U, 1, axis=0) + xp.roll(U, -1, axis=0) + xp.roll(U, 1, axis=1)
               + xp.roll(U, -1, axis=1) - 4.0 * U)
        return xp.reshape(lap + U**3, (N * N,))

    L = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(N, N), dtype=float).tolil()
    L[0, N - 1] = L[N - 1, 0] = 1
    I = sp.eye_array(N)
    P = sp.kron(L, I) + sp.kron(I, L)
    return SparseScenario("stencil_2d", "jacobian", f, *_points(N * N, 5), sp.csr_array(P != 0))


def _gather(n: int) -> SparseScenario:
    rng = np.random.default_rng(6)
    i1, i2 = rng.integers(0, n, n + 3), rng.integers(0, n, n + 3)

    def f(x: Any) -> Any:
        xp = _xp(x)
        a = xp.take(x, xp.asarray(i1, device=getattr(x, "device", None)))
        b = xp.take(x, xp.asarray(i2, device=getattr(x, "device", None)))
        return a * xp.cos(b)

    P = np.zeros((n + 3, n), dtype=bool)
    P[np.arange(n + 3), i1] = P[np.arange(n + 3), i2] = True
    return SparseScenario("gather", "jacobian", f, *_points(n, 7), sp.csr_array(P))


def _scatter_matrix(n: int) -> SparseScenario:
    rng = np.random.default_rng(8)
    m = n - 2
    target = rng.integers(0, m, n)
    S = np.zeros((m, n))
    S[target, np.arange(n)] = 1.0  # y[target[j]] += exp(x[j])

    def f(x: Any) -> Any:
        xp = _xp(x)
        return xp.asarray(S, dtype=x.dtype) @ xp.exp(x)

    return SparseScenario("scatter_add", "jacobian", f, *_points(n, 9), sp.csr_array(S != 0))


def _cubed_differences(n: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        return xp.sum((x[1:] - x[:-1]) ** 3) + xp.sum(x)

    P = sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1])
    return SparseScenario("cubed_differences", "hessian", f, *_points(n, 10), sp.csr_array(P != 0))


def _quadratic_form(n: int) -> SparseScenario:
    A = sp.random_array((n, n), density=0.15, rng=np.random.default_rng(11)).toarray()
    A[np.arange(n), np.arange(n)] += 1.0

    def f(x: Any) -> Any:
        xp = _xp(x)
        return x @ (xp.asarray(A, dtype=x.dtype) @ x)

    return SparseScenario("quadratic_form", "hessian", f, *_points(n, 12), sp.csr_array((A + A.T) != 0))


def _arrow_hessian(n: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        return x[0] * xp.sum(x[1:] ** 2) + xp.sum(xp.exp(x))

    P = np.eye(n, dtype=bool)
    P[0, :] = P[:, 0] = True
    return SparseScenario("arrowhead_hessian", "hessian", f, *_points(n, 13), sp.csr_array(P))


def _block_hessian(nb: int, b: int) -> SparseScenario:
    def f(x: Any) -> Any:
        xp = _xp(x)
        X = xp.reshape(x, (nb, b))
        return xp.sum(xp.sum(X, axis=1) ** 2) + xp.sum(xp.sin(x))

    P = sp.block_diag([np.ones((b, b))] * nb)
    return SparseScenario("block_hessian", "hessian", f, *_points(nb * b, 14), sp.csr_array(P != 0))


def sparse_scenarios(size: int = 12) -> list[SparseScenario]:
    """Jacobian and Hessian scenarios of about ``size`` inputs with closed-form patterns.

    Examples
    --------
    >>> from adopt.testing import sparse_scenarios
    >>> [s.name for s in sparse_scenarios()][:3]
    ['banded', 'arrowhead', 'block_diagonal']
    """
    N = max(3, int(round(size**0.5)))
    return [
        _banded(size), _arrowhead(size), _block_diagonal(size // 3, 3), _stencil(N), _gather(size),
        _scatter_matrix(size), _cubed_differences(size), _quadratic_form(size),
        _arrow_hessian(size), _block_hessian(size // 3, 3),
    ]


# ---- checking ---------------------------------------------------------------------------
def _to_dense(a: Any) -> np.ndarray:
    if sp.issparse(a):
        return a.toarray()
    mod = type(a).__module__.split(".")[0]
    if mod == "torch":
        return (a.to_dense() if str(a.layout) != "torch.strided" else a).detach().cpu().numpy()
    if mod in ("jax", "jaxlib") and hasattr(a, "todense"):
        return np.asarray(a.todense())
    return np.asarray(a)


def check_sparse_backend(sparse_backend: Any, scenarios: list[SparseScenario], *,
                         convert: Callable[[np.ndarray], Any] = lambda a: a,
                         rtol: float = 1e-8, atol: float = 1e-10) -> int:
    """Check ``sparse_backend`` (an ``AutoSparse``) on the scenarios; return the number of checks.

    For each scenario: prepare at ``prep_x``, run at ``x`` twice (plain and value form), and
    compare the detected pattern with the scenario's, the colors with the coloring checks, and
    the values with the dense operator of ``sparse_backend.dense`` at ``x``.
    """
    import adopt
    from adopt._sparse import coloring as col

    checks = 0
    for sc in scenarios:
        op = sc.operator
        prepare = adopt.prepare_jacobian if op == "jacobian" else adopt.prepare_hessian
        run = adopt.jacobian if op == "jacobian" else adopt.hessian
        x, px = convert(sc.x), convert(sc.prep_x)
        where = f"{sc.name} ({op}) with {sparse_backend!r}"
        prep = prepare(sc.f, sparse_backend, px)
        P = adopt.sparsity_pattern(prep)
        assert (P != sc.pattern).nnz == 0, f"{where}: detected pattern differs from the closed form"
        dense = run(sc.f, sparse_backend.second_order() if op == "hessian" else sparse_backend.first_order(), x)
        ref = _to_dense(dense)
        assert np.all(ref[~sc.pattern.toarray()] == 0) or np.abs(ref[~sc.pattern.toarray()]).max() < atol * 1e3, \
            f"{where}: the dense derivative has nonzeros outside the closed-form pattern"
        _check_colors(col, prep, P, op)
        for attempt in range(2):
            got = _to_dense(run(sc.f, sparse_backend, x, prep=prep))
            if op == "hessian" and sparse_backend.triangle == "lower":
                ref_t = np.tril(ref)
            elif op == "hessian" and sparse_backend.triangle == "upper":
                ref_t = np.triu(ref)
            else:
                ref_t = ref
            np.testing.assert_allclose(got, ref_t, rtol=rtol, atol=atol,
                                       err_msg=f"{where}: call {attempt + 1} differs from dense")
            checks += 1
    return checks


def _check_colors(col: Any, prep: Any, P: sp.csr_array, op: str) -> None:
    import adopt

    info = prep.info["sparse"]
    if op == "hessian":
        (col.check_star_coloring if info.mode == "star" else col.check_acyclic_coloring)(P, info.column_colors)
    elif info.mode == "forward":
        col.check_column_coloring(P, adopt.column_colors(prep))
    elif info.mode == "reverse":
        col.check_row_coloring(P, adopt.row_colors(prep))
    else:
        col.check_bicoloring(P, info.row_colors, info.column_colors)
