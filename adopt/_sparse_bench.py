"""Sparse benchmark problems and the headline measurements shown by ``adopt demo``.

The 2D Brusselator right-hand side (the standard sparse-AD benchmark: n = 2 N², 6 nonzeros per
row, 12 colors) in JAX, PyTorch and NumPy; ``benchmarks/sparse.py`` runs the full comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["brusselator", "brusselator_for", "Headline", "headlines"]


def brusselator(N: int, roll: Callable, cat: Callable) -> Callable[[Any], Any]:
    """2D Brusselator RHS on an N x N periodic grid, x = [u, v] (n = 2 N²)."""
    A, B, alpha = 3.4, 1.0, 10.0

    def f(x: Any) -> Any:
        u = x[: N * N].reshape(N, N)
        v = x[N * N:].reshape(N, N)

        def lap(w: Any) -> Any:
            return roll(w, 1, 0) + roll(w, -1, 0) + roll(w, 1, 1) + roll(w, -1, 1) - 4 * w

        du = B + u**2 * v - (A + 1) * u + alpha * lap(u)
        dv = A * u - u**2 * v + alpha * lap(v)
        return cat([du.reshape(-1), dv.reshape(-1)])

    return f


def brusselator_for(framework: str, N: int) -> Callable[[Any], Any]:
    """A fresh Brusselator function object written in ``framework`` ("jax", "torch", "numpy")."""
    if framework == "jax":
        import jax.numpy as jnp

        return brusselator(N, lambda w, s, a: jnp.roll(w, s, a), jnp.concatenate)
    if framework == "torch":
        import torch

        return brusselator(N, lambda w, s, a: torch.roll(w, s, a), torch.cat)
    return brusselator(N, lambda w, s, a: np.roll(w, s, a), np.concatenate)


@dataclass(frozen=True)
class Headline:
    """One line of the sparse headline: adopt against the reference tool on the Brusselator."""

    backend: str
    N: int
    colors: int
    prep_s: float
    adopt_us: float
    reference: str
    reference_us: float
    agree: bool

    @property
    def speedup(self) -> float:
        return self.reference_us / self.adopt_us


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _dense(a: Any) -> np.ndarray:
    if hasattr(a, "toarray"):
        return a.toarray()
    if hasattr(a, "todense"):
        return np.asarray(a.todense())
    if hasattr(a, "to_dense"):
        return a.to_dense().numpy()
    return np.asarray(a)


def headlines(backends: list[str], N: int = 32, blocks: int = 5, min_time: float = 0.02) -> list[Headline]:
    """Prepared sparse Jacobians of the Brusselator against each framework's reference tool."""
    import adopt
    from adopt._bench import measure_all

    out = []
    x0 = np.random.default_rng(0).uniform(0, 1, 2 * N * N)
    for name in backends:
        fw = {"AutoJAX": "jax", "AutoTorch": "torch", "AutoFiniteDiff": "numpy"}[name]
        f = brusselator_for(fw, N)
        x, ref_name, ref = _reference(fw, N, x0)
        b = adopt.AutoSparse(getattr(adopt, name)())
        prep, t_prep = _timed(lambda: adopt.prepare_jacobian(f, b, x))
        t_adopt, t_ref = measure_all([lambda: _block(adopt.jacobian(f, b, x, prep=prep)), ref],
                                     blocks=blocks, min_time=min_time)
        agree = np.allclose(_dense(adopt.jacobian(f, b, x, prep=prep)), _dense(ref()), rtol=1e-6, atol=1e-6)
        out.append(Headline(name, N, adopt.ncolors(prep), t_prep, t_adopt.median * 1e6, ref_name,
                            t_ref.median * 1e6, agree))
    return out


def _block(a: Any) -> Any:
    data = getattr(a, "data", None)
    if hasattr(data, "block_until_ready"):
        data.block_until_ready()
    return a


def _reference(fw: str, N: int, x0: np.ndarray) -> tuple[Any, str, Callable[[], Any]]:
    if fw == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.asarray(x0)
        f = brusselator_for("jax", N)
        try:
            import asdex
        except ImportError:
            fn = jax.jit(jax.jacfwd(f))
            return x, "jax.jit(jax.jacfwd) dense", lambda: fn(x).block_until_ready()
        afn = jax.jit(asdex.jacobian_from_coloring(f, asdex.jacobian_coloring(f, x)))
        return x, "asdex (prepared)", lambda: _block(afn(x))
    if fw == "torch":
        import torch

        x = torch.from_numpy(x0)
        jf = torch.func.jacfwd(brusselator_for("torch", N))
        return x, "torch.func.jacfwd dense", lambda: jf(x)
    from scipy.optimize._numdiff import approx_derivative, group_columns

    import adopt

    f = brusselator_for("numpy", N)
    P = adopt.sparsity_pattern(adopt.prepare_jacobian(f, adopt.AutoSparse(adopt.AutoFiniteDiff()), x0))
    groups = group_columns(P)
    return x0, "scipy approx_derivative 3-point sparsity", lambda: approx_derivative(
        f, x0, method="3-point", sparsity=(P, groups))
