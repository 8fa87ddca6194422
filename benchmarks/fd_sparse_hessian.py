"""Sparse finite-difference Hessian of chained Rosenbrock at large n: memory and time.

Issue 7 asked that ``AutoSparse(AutoFiniteDiff())`` Hessians prepare and run in memory O(nnz)
(the old path built an n x n basis: 74.5 GiB at n = 10⁵). Memory is measured with tracemalloc
(peak above the start of preparation), per nonzero of the Hessian. The time is Θ(n²) by nature
for a black-box scalar f: each of the 3 colors needs a difference of finite-difference gradients,
n evaluations of an O(n) function each; AutoJAX or AutoTorch give the same Hessian in
milliseconds.

Run: ``.venv/bin/python benchmarks/fd_sparse_hessian.py [n ...]`` (default 10000 30000 100000);
writes ``benchmarks/results/fd_sparse_hessian.md``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import adopt


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def run(n: int) -> dict:
    b = adopt.AutoSparse(adopt.AutoFiniteDiff())
    x = np.linspace(-1.0, 1.0, n)
    tracemalloc.start()
    t0 = time.perf_counter()
    prep = adopt.prepare_hessian(rosenbrock, b, x)
    t1 = time.perf_counter()
    H = adopt.hessian(rosenbrock, b, x, prep=prep)
    t2 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    d = np.zeros(n)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    err = max(np.max(np.abs(H.diagonal() - d) / (1 + np.abs(d))),
              np.max(np.abs(H.diagonal(1) + 400 * x[:-1]) / (1 + 400 * np.abs(x[:-1]))))
    return dict(n=n, nnz=H.nnz, colors=adopt.ncolors(prep), prep_s=t1 - t0, call_s=t2 - t1,
                peak_mb=peak / 1e6, bytes_per_nnz=peak / H.nnz, max_rel_err=err)


def main(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        r = run(n)
        print(r, flush=True)
        rows.append(r)
    lines = ["# Sparse finite-difference Hessian, chained Rosenbrock", "",
             "`AutoSparse(AutoFiniteDiff())`, NumPy f, star coloring. Peak memory by tracemalloc "
             "from the start of preparation to the end of one call.", "",
             "| n | nnz | colors | prepare (s) | call (s) | peak (MB) | bytes / nonzero | max rel. error |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['n']} | {r['nnz']} | {r['colors']} | {r['prep_s']:.2f} | {r['call_s']:.1f} | "
              f"{r['peak_mb']:.1f} | {r['bytes_per_nnz']:.0f} | {r['max_rel_err']:.1e} |" for r in rows]
    out = Path(__file__).parent / "results" / "fd_sparse_hessian.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10000, 30000, 100000])
