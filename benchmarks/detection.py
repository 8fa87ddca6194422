"""Sparsity detection at scale: time and peak memory of the global tracers, and asdex as a peer.

Problems (the scale cases of the sparse layer):

- Jacobian of the 2D Brusselator right-hand side (``brusselator_for(framework, N)``, n = 2 N²,
  6 nonzeros per row), written in NumPy, PyTorch and JAX;
- Hessian of the chained Rosenbrock function ``sum(100 (x[1:] - x[:-1]²)² + (1 - x[:-1])²)``
  (tridiagonal, 3 n - 2 nonzeros), written in the same three frameworks.

For each problem, size and tool, one process measures the detection time from a fresh function
object (the best of ``--repeats`` runs: JAX / torch tracing included, imports and one-time
tables excluded by a warm-up at the smallest size) and, in a separate run under
``tracemalloc``, the peak memory allocated during detection (NumPy and SciPy buffers and Python
objects; bytes per nonzero of the pattern). Every pattern is compared with the closed form.
asdex (``asdex.jacobian_sparsity`` / ``asdex.hessian_sparsity``) runs on the JAX function.

    python benchmarks/detection.py                  # n = 1e4, 1e5, 1e6 (several minutes)
    python benchmarks/detection.py --quick          # n = 1e4, 1e5
    python benchmarks/detection.py --sizes 1e6 --tools numpy,jax
Writes benchmarks/results/detection.csv and detection.md.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import sys
import time
import tracemalloc
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import RESULTS_DIR, environment, parse_sizes, setup_frameworks  # noqa: E402

from adopt._sparse.detectors import TracerSparsityDetector  # noqa: E402
from adopt.problems import brusselator_for  # noqa: E402

TOOLS = ("numpy", "torch", "jax", "asdex")
SIZES = (10_000, 100_000, 1_000_000)
DETECT = TracerSparsityDetector()


@dataclass(frozen=True)
class Row:
    problem: str
    tool: str
    n: int
    nnz: int
    seconds: float
    cpu_seconds: float
    peak_mb: float
    bytes_per_nnz: float
    agree: bool


# ---- problems -----------------------------------------------------------------------------
#: Brusselator grid sides of the standard sizes (N = 724: n = 2 N² = 1,048,352, the scale case)
GRID = {10_000: 71, 100_000: 224, 1_000_000: 724}


def _grid(n: int) -> int:
    """The Brusselator grid side N for a size n (2 N² close to n)."""
    return GRID.get(n, max(2, round(math.sqrt(n / 2))))


def brusselator_pattern(N: int) -> sp.csr_array:
    """Closed form: a 5-point periodic stencil in its own field plus the same cell of the other."""
    NN = N * N
    i, j = np.divmod(np.arange(NN), N)
    cols = [((i + di) % N) * N + (j + dj) % N for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))]
    own = np.stack(cols, axis=1)
    rows = np.repeat(np.arange(2 * NN), 6)
    k = np.arange(NN)
    c = np.concatenate([np.column_stack([own, k + NN]), np.column_stack([own + NN, k])])
    return _csr(rows, c.ravel(), 2 * NN)


def rosenbrock_pattern(n: int) -> sp.csr_array:
    k = np.arange(n)
    rows = np.concatenate([k, k[:-1], k[1:]])
    cols = np.concatenate([k, k[1:], k[:-1]])
    return _csr(rows, cols, n)


def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_array:
    P = sp.csr_array((np.ones(rows.size, bool), (rows, cols)), shape=(n, n))
    P.sum_duplicates()
    return P


def rosenbrock_for(framework: str) -> Callable[[Any], Any]:
    """A fresh chained Rosenbrock function object written in ``framework``."""
    def f(x: Any) -> Any:
        r = 100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2
        return r.sum()

    return f


def _x(framework: str, n: int) -> Any:
    x = np.linspace(0.5, 1.5, n)
    if framework == "torch":
        import torch

        return torch.as_tensor(x)
    if framework in ("jax", "asdex"):
        import jax.numpy as jnp

        return jnp.asarray(x)
    return x


# ---- one measurement ----------------------------------------------------------------------
def _detector(problem: str, tool: str, n: int) -> tuple[Callable[[], sp.csr_array], int, sp.csr_array]:
    """(a detection from a fresh function object, the size, the closed-form pattern)."""
    fw = "jax" if tool == "asdex" else tool
    if problem == "jacobian":
        N = _grid(n)
        n, expected = 2 * N * N, brusselator_pattern(N)
        make = lambda: brusselator_for(fw, N)  # noqa: E731
    else:
        expected = rosenbrock_pattern(n)
        make = lambda: rosenbrock_for(fw)  # noqa: E731
    x = _x(tool, n)
    if tool == "asdex":
        import asdex

        method = asdex.jacobian_sparsity if problem == "jacobian" else asdex.hessian_sparsity
        return (lambda: _asdex_csr(method(make(), x))), n, expected
    method = DETECT.jacobian_sparsity if problem == "jacobian" else DETECT.hessian_sparsity
    return (lambda: method(make(), x, framework=tool)), n, expected


def _asdex_csr(P: Any) -> sp.csr_array:
    return _csr(np.asarray(P.rows), np.asarray(P.cols), P.shape[1])


def measure(problem: str, tool: str, n: int, repeats: int) -> Row:
    detect, n, expected = _detector(problem, tool, n)
    best = best_cpu = math.inf
    for _ in range(repeats):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        P = detect()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        del P
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    P = detect()
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    agree = P.shape == expected.shape and (P != expected).nnz == 0
    return Row(problem, tool, n, int(expected.nnz), best, best_cpu, peak / 2**20,
               peak / expected.nnz, bool(agree))


def _available(tool: str) -> bool:
    import importlib.util

    return importlib.util.find_spec("jax" if tool == "asdex" else tool) is not None and (
        tool != "asdex" or importlib.util.find_spec("asdex") is not None)


# ---- output -------------------------------------------------------------------------------
HEADER = "| problem | tool | n | nnz | detection s | CPU s | peak MB | bytes / nnz | agree |"


def table(rows: Sequence[Row]) -> str:
    lines = [HEADER, "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.problem} | {r.tool} | {r.n:,} | {r.nnz:,} | {r.seconds:.3f} | {r.cpu_seconds:.3f} | "
                     f"{r.peak_mb:.1f} | {r.bytes_per_nnz:.0f} | {'yes' if r.agree else 'NO'} |")
    return "\n".join(lines)


def write(rows: Sequence[Row], out_dir: Path, notes: Sequence[str]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "detection.csv", out_dir / "detection.md"
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)
    text = ["# Sparsity detection at scale", "", environment(), "", table(rows), ""]
    md_path.write_text("\n".join(text + [f"- {n}" for n in notes]) + "\n")
    return csv_path, md_path


NOTES = [
    "jacobian: 2D Brusselator right-hand side, n = 2 N² with N = 71, 224, 724 for n ≈ 1e4, "
    "1e5, 1e6; hessian: chained Rosenbrock, tridiagonal",
    "detection s: best of the repeats (wall clock), from a fresh function object (tracing by "
    "make_jaxpr / make_fx included); CPU s: the best process CPU time (all threads: on a shared "
    "machine the steadier figure); peak MB: tracemalloc peak during one detection (NumPy, SciPy and Python "
    "allocations; torch fake tensors and JAX tracing allocate no array data); bytes / nnz: "
    "peak over the nonzeros of the pattern",
    "agree: the pattern equals the closed form",
]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="n = 1e4, 1e5 only")
    p.add_argument("--sizes", type=parse_sizes, default=None, metavar="N,N,...")
    p.add_argument("--tools", default=",".join(TOOLS), help="numpy,torch,jax,asdex")
    p.add_argument("--problems", default="jacobian,hessian")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    setup_frameworks()
    sizes = args.sizes or (SIZES[:2] if args.quick else SIZES)
    tools = [t for t in args.tools.split(",") if t and _available(t)]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for problem in args.problems.split(","):
            for tool in tools:
                measure(problem, tool, 100, 1)  # warm-up: imports, one-time tables
                for n in sizes:
                    r = measure(problem, tool, n, args.repeats if n < 10**6 else max(1, args.repeats - 1))
                    print(f"{r.problem:9s} {r.tool:6s} n={r.n:>9,d} {r.seconds:8.3f} s "
                          f"(CPU {r.cpu_seconds:.3f} s) "
                          f"{r.peak_mb:8.1f} MB {r.bytes_per_nnz:6.0f} B/nnz agree={r.agree}",
                          file=sys.stderr, flush=True)
                    rows.append(r)
    csv_path, md_path = write(rows, args.out_dir, NOTES)
    print(f"\n{environment()}\n\n{table(rows)}\n\nwritten: {csv_path}\n         {md_path}")
    return 0 if all(r.agree for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
