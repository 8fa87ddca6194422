"""Coloring at scale: time, colors and peak memory of ``adopt._sparse.coloring.color``.

Cases (the preparation workloads of issue 11): the 2D Brusselator Jacobian (column coloring,
n = 2 N², 6 nonzeros per row), the chained Rosenbrock Hessian (tridiagonal) and a banded
Hessian of bandwidth 2 (star and acyclic colorings), at n = 10⁴, 10⁵, 10⁶. Each is timed with
the loops compiled by numba and as plain Python, against asdex's coloring of the same pattern
(its numba loops, LargestFirst order), and compared with the colors SparseMatrixColorings.jl's
greedy algorithms are expected to reach (the lower bound the search over orders stops at, and
the optimum where it is known).

``time`` is the warm wall time of ``color(pattern, kind)`` (the default orders, the result with
its index maps; the best of ``--repeat`` runs; ``CPU`` the process time of that run), ``peak``
the tracemalloc peak above the pattern in bytes per nonzero, ``before`` the time of the former
single-module implementation (``--previous``) with the same orders. The first call of the
compiled loops is measured apart, in fresh processes: with an empty numba cache (compilation)
and with the cache this run leaves.

    python benchmarks/coloring.py                    # n = 1e4, 1e5, 1e6: about ten minutes
    python benchmarks/coloring.py --sizes 1e4 --plain-max 1e4
    git show 349a2aa:adopt/_sparse/coloring.py > /tmp/previous.py
    python benchmarks/coloring.py --previous /tmp/previous.py

Writes ``benchmarks/results/coloring.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from adopt._sparse.coloring import DEFAULT_ORDERS, _graph, _loops, _pattern, color

RESULTS = Path(__file__).resolve().parent / "results" / "coloring.md"


# ---- patterns -------------------------------------------------------------------------------
def brusselator(n: int) -> sp.csr_array:
    """The 2D Brusselator Jacobian on the N x N periodic grid with 2 N² closest to n: a 5-point
    stencil in each species plus the coupling of the two species at each point."""
    N = max(3, round(np.sqrt(n / 2)))
    ring = sp.diags_array([1, 1, 1, 1], offsets=[1, 1 - N, -1, N - 1], shape=(N, N), dtype=bool)
    eye = sp.eye_array(N * N)
    stencil = sp.kron(ring, sp.eye_array(N)) + sp.kron(sp.eye_array(N), ring) + eye
    return sp.csr_array(sp.block_array([[stencil, eye], [eye, stencil]]) != 0)


def stencil(n: int) -> sp.csr_array:
    """The 5-point stencil on the m x m grid with m² closest to n (the Bratu problem's Jacobian)."""
    m = max(3, round(np.sqrt(n)))
    T = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(m, m), dtype=bool)
    eye = sp.eye_array(m, dtype=bool)
    return sp.csr_array((sp.kron(eye, T) + sp.kron(T, eye)) != 0)


def banded(n: int, bandwidth: int) -> sp.csr_array:
    """A symmetric banded pattern (bandwidth 1: the chained Rosenbrock Hessian)."""
    offsets = list(range(-bandwidth, bandwidth + 1))
    ones = [1] * len(offsets)
    return sp.csr_array(sp.diags_array(ones, offsets=offsets, shape=(n, n), dtype=bool))


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    make: Callable[[int], sp.csr_array]
    expected: str  # what SparseMatrixColorings-style greedy colorings reach


CASES = [
    Case("Brusselator Jacobian", "column", brusselator,
         "lower bound 6 (a row); greedy 10-12, by order and grid"),
    Case("5-point stencil Jacobian (Bratu)", "column", stencil,
         "5 (optimal: a row); degree orders 7-8"),
    Case("chained Rosenbrock Hessian", "star", lambda n: banded(n, 1), "3 (optimal)"),
    Case("chained Rosenbrock Hessian", "acyclic", lambda n: banded(n, 1), "2 (optimal)"),
    Case("banded Hessian, bandwidth 2", "star", lambda n: banded(n, 2), "5"),
    Case("banded Hessian, bandwidth 2", "acyclic", lambda n: banded(n, 2), "3 (optimal)"),
]


# ---- DSATUR against dynamic largest first ---------------------------------------------------
ORDER_PATTERNS = 40
"""How many patterns :func:`order_rows` compares the default orders on."""


def random_patterns(count: int = ORDER_PATTERNS) -> list[tuple[str, sp.csr_array]]:
    """Square and tall random patterns, banded ones with random entries and grid stencils (5-
    and 9-point), of 200-3000 columns, from a fixed seed."""
    rng, out = np.random.default_rng(0), []
    for trial in range(count):
        n, density = int(rng.integers(200, 3000)), float(rng.choice([0.001, 0.003, 0.01, 0.03]))
        kind = ("square", "tall", "banded", "grid")[trial % 4]
        if kind == "square":
            P = sp.random_array((n, n), density=density, rng=trial) + sp.eye_array(n)
        elif kind == "tall":
            P = sp.random_array((n * 3 // 2, n), density=density, rng=trial)
        elif kind == "banded":
            b = int(rng.integers(1, 8))
            P = (sp.diags_array([1.0] * (2 * b + 1), offsets=range(-b, b + 1), shape=(n, n))
                 + sp.random_array((n, n), density=density / 5, rng=trial))
        else:
            P = stencil(n) if trial % 8 != 3 else stencil(n) + (stencil(n) @ stencil(n))
        out.append((kind, sp.csr_array(P != 0)))
    return out


def order_rows() -> list[list[str]]:
    """Colors of the column coloring with DSATUR and with dynamic largest first, each after
    natural and largest first (the former default orders against the present ones)."""
    tally: dict[str, list[int]] = {}
    for kind, P in random_patterns():
        old = color(P, "column", ("natural", "largest_first", "dynamic_largest_first")).ncolors
        new = color(P, "column", ("natural", "largest_first", "dsatur")).ncolors
        t = tally.setdefault(kind, [0, 0, 0, 0, 0])
        t[0 if new < old else 1 if new == old else 2] += 1
        t[3], t[4] = t[3] + old, t[4] + new
    return [[kind, str(sum(t[:3])), str(t[0]), str(t[1]), str(t[2]), str(t[3]), str(t[4])]
            for kind, t in tally.items()]


ORDER_HEADER = ["patterns", "count", "fewer colors", "as many", "more", "colors before (sum)",
                "colors now (sum)"]


# ---- measurements ---------------------------------------------------------------------------
def timed(run: Callable[[], object], repeat: int) -> tuple[object, float, float]:
    """``run()``, and the wall and CPU seconds of its fastest of ``repeat`` runs."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = run()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return out, best, cpu


def peak_bytes(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def asdex_coloring(P: sp.csr_array, kind: str, repeat: int) -> tuple[str, str]:
    """asdex's colors and warm time for the same pattern (column or star coloring), if any."""
    if kind not in ("column", "star"):
        return "-", "-"
    try:
        import asdex
    except ImportError:
        return "not installed", "-"
    coo = P.tocoo()
    rows, cols = coo.row.astype(np.int32), coo.col.astype(np.int32)
    pattern = asdex.SparsityPattern.from_coo(rows, cols, P.shape)
    if kind == "column":
        run = lambda: asdex.jacobian_coloring_from_sparsity(pattern, mode="fwd")  # noqa: E731
    else:
        run = lambda: asdex.hessian_coloring_from_sparsity(pattern, symmetric=True)  # noqa: E731
    run()  # compile its numba loops
    result, seconds, _ = timed(run, repeat)
    return str(result.num_colors), f"{seconds:.3f}"


FIRST_CALL = """
import time
start = time.perf_counter()
import numba, scipy.sparse as sp
from adopt._sparse.coloring import DEFAULT_ORDERS, _graph, _loops, _pattern, color
P = sp.csr_array(sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(50, 50), dtype=bool))
imported = time.perf_counter()
for kind, order in [("column", "dynamic_largest_first"), ("column", "dsatur"), ("star", "natural"),
                    ("acyclic", "natural")]:
    color(P, kind, order, jit=True)
print(imported - start, time.perf_counter() - imported)
"""


def first_call(cache_dir: str | None) -> tuple[float, float]:
    """Seconds of the imports (adopt, numba) and of the first colorings (every compiled loop)
    in a fresh process."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                         capture_output=True, text=True)
    imports, colorings = out.stdout.strip().splitlines()[-1].split()
    return float(imports), float(colorings)


def load_previous(path: str | None) -> object | None:
    """The former single-module coloring (``git show <rev>:adopt/_sparse/coloring.py``), if
    given: its functions take ``(pattern, orders)`` and return colors."""
    if path is None:
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("previous_coloring", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def previous_time(previous: object | None, P: sp.csr_array, kind: str, n: int,
                  args: argparse.Namespace) -> str:
    """Seconds of the former coloring plus its decompression maps, same orders, if asked."""
    if previous is None or n > args.previous_max:
        return "-"
    orders = DEFAULT_ORDERS[kind]
    colors = getattr(previous, f"{kind}_coloring")
    maps = getattr(previous, f"{'column' if kind == 'column' else kind}_decompression")
    _, seconds, _ = timed(lambda: maps(P, colors(P, orders)), 1)
    return f"{seconds:.2f}"


def measure(case: Case, n: int, args: argparse.Namespace) -> list[str]:
    P = case.make(n)
    color(P, case.kind)  # loads the compiled loops
    compiled, seconds, cpu = timed(lambda: color(P, case.kind), args.repeat)
    peak = peak_bytes(lambda: color(P, case.kind)) / P.nnz
    plain = "-"
    if P.shape[0] <= args.plain_max:
        result, plain_seconds, _ = timed(lambda: color(P, case.kind, jit=False), 1)
        assert np.array_equal(result.colors, compiled.colors), "compiled and plain loops differ"
        plain = f"{plain_seconds:.2f}"
    asdex_colors, asdex_seconds = asdex_coloring(P, case.kind, args.repeat)
    natural = color(P, case.kind, "natural").ncolors
    before = previous_time(args.previous, P, case.kind, n, args)
    return [case.name, case.kind, f"{P.shape[0]:,}", f"{P.nnz:,}", str(compiled.ncolors),
            str(natural), case.expected, f"{seconds:.3f}", f"{cpu:.3f}", plain,
            f"{plain_seconds / seconds:.0f}x" if plain != "-" else "-", before, f"{peak:.0f}",
            asdex_colors, asdex_seconds]


def loop_rows(n: int, args: argparse.Namespace) -> list[list[str]]:
    """The greedy loops alone, compiled and plain Python: the partial distance-2 coloring and
    the dynamic-largest-first and DSATUR orders of the Brusselator, the star and acyclic colorings of the
    chained Rosenbrock Hessian (natural order)."""
    bruss = _graph.column_walk(_pattern.as_pattern(brusselator(n), "benchmark"))
    path = _graph.adjacency(_pattern.symmetric_pattern(banded(n, 1), "benchmark"))
    order = np.arange(path[0].size - 1)
    degrees = _loops.loops_for(True).degrees(bruss)
    runs = {
        "partial distance-2, natural (Brusselator)":
            lambda loops: loops.partial_distance2(bruss, np.arange(bruss[0].size - 1)),
        "bucket order, dynamic largest first (Brusselator)":
            lambda loops: loops.bucket_order(bruss, degrees, -1, True, int(degrees.max()) + 1),
        "saturation order, DSATUR (Brusselator)":
            lambda loops: loops.saturation(bruss, int(degrees.max()) + 1),
        "star, natural (chained Rosenbrock)": lambda loops: loops.star(path, order),
        "acyclic, natural (chained Rosenbrock)": lambda loops: loops.acyclic(path, order),
    }
    rows = []
    for name, run in runs.items():
        compiled, seconds, cpu = timed(lambda: run(_loops.loops_for(True)), args.repeat)
        plain = "-"
        if n <= args.plain_max:
            result, plain_seconds, _ = timed(lambda: run(_loops.loops_for(False)), 1)
            assert np.array_equal(result, compiled), f"{name}: compiled and plain loops differ"
            plain = f"{plain_seconds:.2f}"
        rows.append([name, f"{n:,}", f"{seconds:.3f}", f"{cpu:.3f}", plain,
                     f"{plain_seconds / seconds:.0f}x" if plain != "-" else "-"])
    return rows


LOOP_HEADER = ["loop", "n", "compiled s", "CPU s", "plain Python s", "speedup"]
HEADER = ["pattern", "coloring", "n", "nnz", "colors", "natural only", "expected", "time s",
          "CPU s", "plain Python s", "numba speedup", "before s", "peak B/nnz", "asdex colors",
          "asdex s"]


def environment() -> str:
    import numba
    import scipy

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy "
            f"{scipy.__version__}, numba {numba.__version__}; {os.cpu_count()} cores "
            f"({platform.machine()}), load average {load:.1f} at the end of the run")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1e4,1e5,1e6", help="comma-separated n (default 1e4,1e5,1e6)")
    p.add_argument("--plain-max", type=float, default=1e6, help="largest n run as plain Python")
    p.add_argument("--repeat", type=int, default=3, help="warm runs per case (the best is kept)")
    p.add_argument("--previous", default=None, metavar="FILE",
                   help="the former adopt/_sparse/coloring.py, to time it on the same cases")
    p.add_argument("--previous-max", type=float, default=1e6, help="largest n for --previous")
    args = p.parse_args(argv)
    args.previous = load_previous(args.previous)
    with tempfile.TemporaryDirectory() as empty:
        cold = first_call(empty)
    rows, loops = [], []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        for case in CASES:
            rows.append(measure(case, n, args))
            print(" | ".join(rows[-1]), file=sys.stderr)
        loops += loop_rows(n, args)
    warm = first_call(None)  # with the cache the runs above leave next to adopt's sources
    command = " ".join(["python benchmarks/coloring.py", *(argv if argv is not None else sys.argv[1:])])
    text = (f"# Coloring at scale\n\n`{command}`. "
            f"{environment()}.\n\n{table(HEADER, rows)}\n\nThe greedy loops alone (the "
            f"same source, compiled by numba or run as plain Python on lists):\n\n"
            f"{table(LOOP_HEADER, loops)}\n\nThe default orders of a column coloring, natural, "
            f"largest first and DSATUR, against the former natural, largest first and dynamic "
            f"largest first, on {ORDER_PATTERNS} patterns of 200-3000 columns "
            f"(``random_patterns``):\n\n{table(ORDER_HEADER, order_rows())}\n\n"
            f"First colorings in a fresh process (column colorings with dynamic largest first "
            f"and DSATUR, a star and an acyclic coloring of a 50 x 50 "
            f"tridiagonal pattern: every compiled loop), after {warm[0]:.1f} s of imports (adopt, "
            f"numba): {cold[1]:.1f} s with an empty numba cache (the loops compile), "
            f"{warm[1]:.2f} s with the on-disk cache (``cache=True``).\n")
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
