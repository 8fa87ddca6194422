"""Prepared sparse derivatives of the Lukšan–Vlček NLP (the IPOPT workload) against asdex.

The constraint Jacobian and the Lagrangian Hessian ``σ f(x) + λ·c(x)`` (σ, λ as Constant
contexts, the lower triangle) of ``adopt.problems.nlp.luksan_vlcek1`` with NumPy input, as
IPOPT asks for them: ``AutoSparse(AutoJAX(), format="values")``, NumPy out. asdex gets the same
functions, jitted, with NumPy input too (it returns a BCOO built inside its jit; timed with its
values copied to NumPy, and left on the device). Times are the best of interleaved blocks (on a
shared machine the best block is the one least disturbed), so both tools see the same load.

    python benchmarks/sparse_nlp.py            # n = 5000
    python benchmarks/sparse_nlp.py --n 50000
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np


def _blocks(fns: list[Callable[[], Any]], repeat: int = 100, blocks: int = 15) -> list[float]:
    """The best over interleaved blocks of the mean time of one call, in µs."""
    times = [[] for _ in fns]
    for _ in range(blocks):
        for fn, t in zip(fns, times):
            fn()
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            t.append((time.perf_counter() - t0) / repeat * 1e6)
    return [min(t) for t in times]


def main(n: int) -> list[tuple[str, float, float, int, int]]:
    import asdex
    import jax
    import jax.numpy as jnp

    import adopt
    from adopt.problems import nlp

    jax.config.update("jax_enable_x64", True)
    f, c = nlp.luksan_vlcek_objective, nlp.luksan_vlcek_constraints
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, n)
    sigma, lam = 0.7, rng.uniform(-1, 1, n - 2)

    def lagrangian(x: Any, s: Any, l: Any) -> Any:
        return s * f(x) + jnp.dot(l, c(x))

    jac_b = adopt.AutoSparse(adopt.AutoJAX(), format="values")
    hess_b = adopt.AutoSparse(adopt.AutoJAX(), format="values", triangle="lower")
    pj = adopt.prepare_jacobian(c, jac_b, x)
    ph = adopt.prepare_hessian(lagrangian, hess_b, x, adopt.Constant(sigma), adopt.Constant(lam))
    ctx = (adopt.Constant(sigma), adopt.Constant(lam))

    xj = jnp.asarray(x)
    jcol = asdex.jacobian_coloring(c, xj)
    ajac = jax.jit(asdex.jacobian_from_coloring(c, jcol))
    hcol = asdex.hessian_coloring(lambda z: lagrangian(z, sigma, jnp.asarray(lam)), xj)
    ahess = jax.jit(lambda z, s, l: asdex.hessian_from_coloring(lambda w: lagrangian(w, s, l), hcol)(z))
    jax.block_until_ready(ajac(x).data)
    jax.block_until_ready(ahess(x, sigma, lam).data)

    # same values (asdex lists the full Hessian: compare its lower triangle)
    import scipy.sparse as sp
    J = sp.coo_array((np.asarray(ajac(x).data), np.asarray(ajac(x).indices).T), shape=(n - 2, n)).toarray()
    P = adopt.sparsity_pattern(pj).tocoo()
    np.testing.assert_allclose(adopt.jacobian(c, jac_b, x, prep=pj), J[P.row, P.col], rtol=1e-12)

    fns = [  # adopt returns NumPy values (what IPOPT takes); asdex as NumPy, and left on device
        lambda: adopt.jacobian(c, jac_b, x, prep=pj),
        lambda: np.asarray(ajac(x).data),
        lambda: ajac(x).data.block_until_ready(),
        lambda: adopt.hessian(lagrangian, hess_b, x, *ctx, prep=ph),
        lambda: np.asarray(ahess(x, sigma, lam).data),
        lambda: ahess(x, sigma, lam).data.block_until_ready(),
    ]
    t = _blocks(fns)
    return [("constraint Jacobian", *t[:3], adopt.ncolors(pj), int(jcol.num_colors)),
            ("Lagrangian Hessian (lower)", *t[3:], adopt.ncolors(ph), int(hcol.num_colors))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    print(f"| Lukšan–Vlček, n = {args.n}, NumPy in | adopt → NumPy (µs) | asdex → NumPy (µs) | ratio "
          "| asdex on device (µs) | colors (adopt / asdex) |")
    print("|---|---|---|---|---|---|")
    for name, ours, theirs, device, k, ka in main(args.n):
        print(f"| {name} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} | {device:.0f} | {k} / {ka} |")
