"""Sparse preparation at scale: where the time and the memory of a sparse prep go at n = 10⁴..10⁶.

Workloads (issue 11, "Scale"):

- the Jacobian of the 2D Brusselator right-hand side (``adopt.problems.brusselator_residual``,
  n = 2 N², 6 nonzeros per row; column coloring);
- the Hessian of the chained Rosenbrock function (``adopt.problems.training.rosenbrock``,
  tridiagonal; star coloring).

Tools: ``AutoSparse(AutoJAX())``, ``AutoSparse(AutoTorch())``, ``AutoSparse(AutoFiniteDiff())``
(NumPy in) and asdex (``jacobian_sparsity`` / ``hessian_sparsity``, then its coloring, then
``jax.jit`` of ``*_from_coloring``).

Every case runs in a fresh process. It first prepares the same workload at a small size (imports,
framework start-up, numba's cached loops: one-time costs a long-running program pays once), then
times one preparation at the requested size, split into

- ``detect``: the sparsity detector (adopt: ``TracerSparsityDetector``; asdex: its detection),
- ``color``: the coloring and its decompression maps (every call into
  ``adopt._sparse.coloring``; asdex: its coloring),
- ``rest``: everything else, mostly compilation (``jax.jit`` of the batched products and the
  gather, or a captured PyTorch graph);

then the prepared call (median of ``--calls`` calls; on JAX interleaved with the bare batched
products it stands for) and the peak resident memory above the memory after the warm-up
(``ru_maxrss``: NumPy, SciPy, XLA and PyTorch buffers alike), in bytes per nonzero of the
derivative.

    python benchmarks/scale.py                                   # n = 1e4, 1e5, 1e6: ~15 min
    python benchmarks/scale.py --sizes 1e4 --tools jax,fd        # a quick look
    python benchmarks/scale.py --sizes 1e6 --workloads brusselator --tools jax --no-write

Writes ``benchmarks/results/scale.md`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "scale.md"
TOOLS = ("jax", "torch", "fd", "asdex")
WORKLOADS = ("brusselator", "rosenbrock")
#: n of the warm-up: its pattern has more than ``COMPILE_ABOVE`` (10 000) nonzeros, so that
#: the coloring runs numba's loops there and the timed prep finds them loaded (about 0.6 s CPU
#: once per process: ``benchmarks/results/coloring.md``).
WARM_UP = 4000
LABELS = {"jax": "AutoSparse(AutoJAX())", "torch": "AutoSparse(AutoTorch())",
          "fd": "AutoSparse(AutoFiniteDiff())", "asdex": "asdex"}


# ---- one case, in its own process ----------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Clock:
    """Accumulates the time spent in the functions it wraps (outermost calls only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._depth = 0

    def wrap(self, what: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - t0
                self.cpu[what] = self.cpu.get(what, 0.0) + time.process_time() - c0

        return timed


def _instrument(clock: Clock) -> None:
    """Time adopt's detection and coloring inside a prep, whatever module calls them: every
    coloring goes through the table of ``color`` (results with their maps are built eagerly),
    every detection through the detector's methods."""
    from adopt._sparse import detectors
    from adopt._sparse.coloring import _api

    for kind, fn in _api._COLORINGS.items():
        _api._COLORINGS[kind] = clock.wrap("color", fn)
    cls = detectors.TracerSparsityDetector
    for name in ("jacobian_sparsity", "hessian_sparsity"):
        setattr(cls, name, clock.wrap("detect", getattr(cls, name)))


def _size(workload: str, n: int) -> tuple[int, int]:
    """(parameter, n) of the workload closest to ``n``: the Brusselator's grid side N."""
    if workload == "brusselator":
        N = max(3, round((n / 2) ** 0.5))
        return N, 2 * N * N
    return n, n


def _function(workload: str, param: int) -> Callable:
    if workload == "brusselator":
        from adopt.problems import brusselator_residual

        return brusselator_residual(param)
    from adopt.problems.training import rosenbrock

    return lambda x: rosenbrock(x)  # a fresh function object: no cache is shared


def _point(tool: str, n: int) -> Any:
    x = np.random.default_rng(0).uniform(0.5, 1.5, n)
    if tool in ("jax", "asdex"):
        import jax

        return jax.device_put(x)
    if tool == "torch":
        import torch

        return torch.from_numpy(x)
    return x


def _block(out: Any) -> Any:
    if "jax" in sys.modules:
        sys.modules["jax"].block_until_ready(out)
    return out


def _adopt_prepare(tool: str, workload: str) -> tuple[Callable, Callable]:
    """(prepare(f, x) -> call, nnz(prepared)) for an adopt backend."""
    import adopt

    inner = {"jax": adopt.AutoJAX, "torch": adopt.AutoTorch, "fd": adopt.AutoFiniteDiff}[tool]()
    backend = adopt.AutoSparse(inner, format="values")
    op = adopt.jacobian if workload == "brusselator" else adopt.hessian
    prep_op = adopt.prepare_jacobian if workload == "brusselator" else adopt.prepare_hessian

    def prepare(f: Callable, x: Any) -> tuple[Callable, int, int, Any]:
        prep = prep_op(f, backend, x)
        call = lambda: _block(op(f, backend, x, prep=prep))  # noqa: E731
        call()
        return (call, int(adopt.sparsity_pattern(prep).nnz), int(adopt.ncolors(prep)),
                adopt.column_colors(prep))

    return prepare


def _batched(workload: str, f: Callable, x: Any, colors: np.ndarray) -> Callable:
    """The bare JAX products a prepared call stands for: ``jax.jit`` of ``vmap`` of ``jvp`` (of
    ``grad f`` for a Hessian) over the same one-hot seeds, passed as an argument; compiled."""
    import jax

    g = f if workload == "brusselator" else jax.grad(f)
    products = jax.jit(lambda x, S: jax.vmap(lambda t: jax.jvp(g, (x,), (t,))[1])(S))
    seeds = jax.device_put((colors[None, :] == np.arange(colors.max() + 1)[:, None]).astype(x.dtype))
    _block(products(x, seeds))
    return lambda: _block(products(x, seeds))


def _asdex_prepare(workload: str, clock: Clock) -> Callable:
    import asdex
    import jax

    def prepare(f: Callable, x: Any) -> tuple[Callable, int, int, Any]:
        if workload == "brusselator":
            sparsity = clock.wrap("detect", asdex.jacobian_sparsity)(f, x)
            coloring = clock.wrap("color", asdex.jacobian_coloring_from_sparsity)(sparsity)
            fn = jax.jit(asdex.jacobian_from_coloring(f, coloring))
        else:
            sparsity = clock.wrap("detect", asdex.hessian_sparsity)(f, x)
            coloring = clock.wrap("color", asdex.hessian_coloring_from_sparsity)(sparsity)
            fn = jax.jit(asdex.hessian_from_coloring(f, coloring))
        call = lambda: _block(fn(x))  # noqa: E731
        call()
        return call, int(sparsity.nnz), int(coloring.num_colors), None

    return prepare


def run_case(tool: str, workload: str, n: int, calls: int) -> dict[str, Any]:
    """Measure one case in this process (see the module docstring)."""
    if tool in ("jax", "asdex"):
        import jax

        jax.config.update("jax_enable_x64", True)
    clock = Clock()
    if tool == "asdex":
        prepare = _asdex_prepare(workload, clock)
    else:
        _instrument(clock)
        prepare = _adopt_prepare(tool, workload)
    small, small_n = _size(workload, WARM_UP)
    prepare(_function(workload, small), _point(tool, small_n))  # warm-up
    param, size = _size(workload, n)
    x = _point(tool, size)
    f = _function(workload, param)
    clock.seconds.clear()
    clock.cpu.clear()
    base = _rss_bytes()
    t0, c0 = time.perf_counter(), time.process_time()
    call, nnz, ncolors, colors = prepare(f, x)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_bytes() - base
    runs = {"call": call}
    if tool == "jax" and colors is not None:
        runs["bare"] = _batched(workload, f, x, colors)
    times: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(calls):  # interleaved
        for k, run in runs.items():
            t1, c1 = time.perf_counter(), time.process_time()
            run()
            times[k].append(time.perf_counter() - t1)
            cpus[k].append(time.process_time() - c1)
    wall_ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    cpu_ms = {k: 1e3 * float(np.median(v)) for k, v in cpus.items()}
    total, cpu = total - wall_ms["call"] / 1e3, cpu - cpu_ms["call"] / 1e3  # first call out
    detect, color = clock.seconds.get("detect", 0.0), clock.seconds.get("color", 0.0)
    detect_cpu, color_cpu = clock.cpu.get("detect", 0.0), clock.cpu.get("color", 0.0)
    return {"tool": tool, "workload": workload, "n": size, "nnz": nnz, "colors": ncolors,
            "prep": total, "detect": detect, "color": color, "rest": total - detect - color,
            "prep_cpu": cpu, "detect_cpu": detect_cpu, "color_cpu": color_cpu,
            "rest_cpu": cpu - detect_cpu - color_cpu,
            "call_ms": wall_ms["call"], "call_cpu_ms": cpu_ms["call"],
            "bare_ms": wall_ms.get("bare"), "bare_cpu_ms": cpu_ms.get("bare"),
            "bytes_per_nnz": peak / nnz, "load": os.getloadavg()[0]}


# ---- the driver ----------------------------------------------------------------------------
def _spawn(tool: str, workload: str, n: int, calls: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--case", tool, workload, str(n), "--calls", str(calls)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "workload": workload, "n": _size(workload, n)[1],
                "error": f"over {timeout:.0f} s"}
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"tool": tool, "workload": workload, "n": _size(workload, n)[1], "error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(r: dict[str, Any]) -> str:
    head = f"| {r['workload']} | {LABELS[r['tool']]} | {r['n']:,} |"
    if "error" in r:
        return head + f" {r['error']} |" + " |" * 10
    times = " | ".join(f"{r[k]:.2f} ({r[k + '_cpu']:.2f})" for k in ("prep", "detect", "color", "rest"))
    call = f"{r['call_ms']:.1f} ({r['call_cpu_ms']:.1f})"
    bare, ratio = "", ""
    if r.get("bare_ms") is not None:
        bare = f"{r['bare_ms']:.1f} ({r['bare_cpu_ms']:.1f})"
        ratio = f"{r['call_cpu_ms'] / r['bare_cpu_ms']:.2f}"
    return head + (f" {r['nnz']:,} | {r['colors']} | {times} | {call} | {bare} | {ratio} | "
                   f"{r['bytes_per_nnz']:.0f} | {r['load']:.1f} |")


def _environment() -> str:
    import jax
    import scipy
    import torch

    try:
        import numba
        fast = f"numba {numba.__version__}"
    except ImportError:
        fast = "no numba"
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy "
            f"{scipy.__version__}, jax {jax.__version__}, torch {torch.__version__}, {fast}; "
            f"{os.cpu_count()} CPUs ({platform.machine()}), load average "
            f"{os.getloadavg()[0]:.1f} at the end of the run")


NOTES = """
Columns: wall seconds, with the process's CPU seconds in parentheses (all threads: XLA compiles
on several). The machine is shared: where the load average (last column) is well above the 2
cores, wall times are inflated several-fold and the CPU seconds are the figure to compare.
``rest`` is everything in the prep but detection and coloring: building seeds and index maps,
tracing and compiling the batched products (JAX ``jit``, a captured PyTorch graph); the prep
is timed up to the first result, less one prepared call. ``call`` is the prepared call with
``format="values"`` (the nonzeros), median wall (CPU) ms; ``batched`` (JAX) the bare products it
stands for, ``jax.jit`` of ``vmap`` of ``jvp`` (of ``grad f`` for the Hessian) over the same
one-hot seeds passed as an argument, without decompression, timed interleaved with ``call``;
``call / batched`` is their ratio in CPU time. ``peak`` is the resident memory reached during the prep above the memory after the warm-up, per nonzero.
asdex's ``detect`` and ``color`` are its own detection and coloring; its ``rest`` is its
``jax.jit`` of ``*_from_coloring``. The finite-difference Hessian is run up to
``--fd-hessian-max`` only: each of its Hessian-vector products differentiates a
finite-difference gradient, O(n) calls of f.
""".strip()

HEADER = ("| workload | tool | n | nnz | colors | prep s (CPU s) | detect | color | rest "
          "| call ms (CPU) | batched ms (CPU) | call / batched | peak B/nnz | load |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1e4,1e5,1e6")
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--fd-max", type=float, default=1e6, help="largest n for AutoFiniteDiff")
    p.add_argument("--fd-hessian-max", type=float, default=1e4,
                   help="largest n for the AutoFiniteDiff Hessian (each Hessian-vector product "
                        "is a finite difference of finite-difference gradients: O(n) calls of f)")
    p.add_argument("--asdex-max", type=float, default=1e6, help="largest n for asdex")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--case", nargs=3, metavar=("TOOL", "WORKLOAD", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        tool, workload, n = args.case
        print(json.dumps(run_case(tool, workload, int(float(n)), args.calls)))
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        for workload in args.workloads.split(","):
            for tool in args.tools.split(","):
                fd_max = args.fd_max if workload == "brusselator" else args.fd_hessian_max
                if tool == "fd" and n > fd_max or tool == "asdex" and n > args.asdex_max:
                    continue
                rows.append(_spawn(tool, workload, n, args.calls, args.timeout))
                print(_row(rows[-1]), file=sys.stderr, flush=True)
    table = "\n".join([HEADER, *map(_row, rows)])
    print(table)
    if not args.no_write:
        RESULTS.write_text(f"# Sparse preparation at scale\n\n`python benchmarks/scale.py "
                           f"{' '.join(argv or sys.argv[1:])}`. {_environment()}.\n\n{table}\n\n"
                           f"{NOTES}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
