"""The benchmark harness shared by every benchmark module in benchmarks/.

Timing: every function is called once (preparation and compilation are not timed),
calibrated to a number of calls per block that exceeds ``min_time``, and then the blocks of
all functions of a case are *interleaved* (adopt, baseline, baseline, ..., alternating the
order), so that drifts of clock, cache and thermal state hit every side alike. The reported
time per call is the median over blocks. JAX outputs are waited for inside the timed loop
(``.block_until_ready()``) on both sides.

On top of the timing and the result writers, what a benchmark *script* needs: the common
command-line flags, switching JAX to float64 (the benchmark is the user: adopt never flips
it), and running a list of cases into ``benchmarks/results/<name>.csv`` and ``<name>.md``.
A benchmark module puts this folder on ``sys.path`` (``python benchmarks/x.py`` does) and
builds a list of :class:`CaseSpec` (each with a ``build()`` returning a :class:`Case`: the
prepared adopt call and one or more bare baselines), then calls :func:`report`::

    from _harness import Case, CaseSpec, parser, report, setup_frameworks

    def main(argv=None):
        args = parser("Sparse Jacobians").parse_args(argv)
        setup_frameworks()
        specs = [CaseSpec("jacobian", "AutoSparse(AutoJAX())", n, lambda n=n: build(n)) for n in args.sizes or (32, 2048)]
        return report(specs, "sparse", "Sparse Jacobians", args)
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Timing", "Case", "CaseSpec", "Result", "Skipped", "measure", "measure_all", "run_case",
    "run_cases", "write_csv", "write_markdown", "format_table", "environment", "stderr_progress",
    "RESULTS_DIR", "parser", "parse_sizes", "setup_frameworks", "report",
]


# ---- timing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds per call of one function: median and minimum over the blocks."""

    median: float
    min: float
    calls: int      # calls per block
    blocks: int
    per_block: tuple[float, ...] = ()  # seconds per call in each round, in the order of the rounds


def _time_block(fn: Callable[[], Any], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t0


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """The number of calls whose block takes at least ``min_time`` (``fn`` is already warm)."""
    calls = 1
    while True:
        t = _time_block(fn, calls)
        if t >= min_time:
            return calls
        grow = min_time / t * 1.2 if t > 0 else 10.0
        calls = max(calls + 1, min(calls * 10, math.ceil(calls * grow)))


def measure_all(fns: Sequence[Callable[[], Any]], *, blocks: int = 9,
                min_time: float = 0.02, max_case_time: float = 6.0) -> list[Timing]:
    """Time several zero-argument functions in interleaved blocks; one :class:`Timing` each.

    Each function is run once to warm up, calibrated so that a block of its calls lasts at
    least ``min_time`` seconds, and then ``blocks`` rounds are run in which every function
    runs one block (the order alternates between rounds). The number of rounds is reduced
    (to no fewer than 3) if the case would otherwise take longer than ``max_case_time``.

    Examples
    --------
    >>> from _harness import measure_all
    >>> a, b = measure_all([lambda: sum(range(10)), lambda: sum(range(20))], blocks=3, min_time=1e-3)
    >>> a.median > 0 and b.median > 0
    True
    """
    for fn in fns:
        fn()
    calls = [_calibrate(fn, min_time) for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        t_start = time.perf_counter()
        for b in range(blocks):
            order = range(len(fns)) if b % 2 == 0 else reversed(range(len(fns)))
            for i in order:
                times[i].append(_time_block(fns[i], calls[i]) / calls[i])
            if b + 1 >= 3 and time.perf_counter() - t_start > max_case_time:
                break
    finally:
        if enabled:
            gc.enable()
    return [Timing(statistics.median(t), min(t), c, len(t), tuple(t)) for t, c in zip(times, calls)]


def measure(adopt_fn: Callable[[], Any], bare_fn: Callable[[], Any], *, blocks: int = 9,
            min_time: float = 0.02) -> tuple[Timing, Timing]:
    """Time a prepared adopt call against the bare framework, interleaved; see :func:`measure_all`.

    Examples
    --------
    >>> from _harness import measure
    >>> t_adopt, t_bare = measure(lambda: sum(range(10)), lambda: sum(range(10)), blocks=3, min_time=1e-3)
    >>> t_adopt.median > 0
    True
    """
    a, b = measure_all([adopt_fn, bare_fn], blocks=blocks, min_time=min_time)
    return a, b


# ---- cases and results --------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A benchmark case, built (prepared, compiled, warmed) and ready to time.

    ``adopt`` is the prepared adopt call; ``baselines`` maps a description of each bare
    framework way of doing the same work to a zero-argument function. The fastest baseline is
    the reference. ``to_numpy`` turns any output into NumPy for the agreement check.
    """

    adopt: Callable[[], Any]
    baselines: Mapping[str, Callable[[], Any]]
    to_numpy: Callable[[Any], np.ndarray] = np.asarray
    rtol: float = 1e-7
    atol: float = 1e-9


@dataclass(frozen=True)
class CaseSpec:
    """A case not yet built: what it is, and how to build it (which may compile)."""

    operator: str
    backend: str
    n: int
    build: Callable[[], Case] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.operator} n={self.n}"


@dataclass(frozen=True)
class Result:
    """One row of the results: times in microseconds per call, ratio = adopt / bare."""

    operator: str
    backend: str
    n: int
    adopt_us: float
    bare_us: float
    ratio: float
    baseline: str
    adopt_min_us: float
    bare_min_us: float
    ratio_min: float
    ratio_paired: float  # the median over rounds of adopt / bare within each round
    agree: bool


RESULT_COLUMNS = tuple(f.name for f in fields(Result))


def _agree(case: Case) -> bool:
    ref = case.to_numpy(next(iter(case.baselines.values()))())
    got = case.to_numpy(case.adopt())
    return got.shape == ref.shape and bool(np.allclose(got, ref, rtol=case.rtol, atol=case.atol))


def run_case(spec: CaseSpec, *, blocks: int = 9, min_time: float = 0.02) -> Result:
    """Build a case, check that adopt and the baseline agree, and time them interleaved."""
    case = spec.build()
    agree = _agree(case)
    names = list(case.baselines)
    timings = measure_all([case.adopt, *case.baselines.values()], blocks=blocks, min_time=min_time)
    t_adopt, bare = timings[0], timings[1:]
    best = min(range(len(bare)), key=lambda i: bare[i].median)
    desc = names[best]
    if len(names) > 1:
        others = ", ".join(f"{n}: {t.median * 1e6:.4g} µs" for n, t in zip(names, bare) if n != desc)
        desc = f"{desc} (faster than {others})"
    return Result(spec.operator, spec.backend, spec.n, t_adopt.median * 1e6, bare[best].median * 1e6,
                  t_adopt.median / bare[best].median, desc, t_adopt.min * 1e6, bare[best].min * 1e6,
                  t_adopt.min / bare[best].min, paired_ratio(t_adopt, bare[best]), agree)


def paired_ratio(a: Timing, b: Timing) -> float:
    """The median over rounds of ``a / b`` within each round: the two blocks of a round run back
    to back, so a drift of the machine's speed between rounds cancels out."""
    return statistics.median(x / y for x, y in zip(a.per_block, b.per_block))


def run_cases(specs: Sequence[CaseSpec], *, blocks: int = 9, min_time: float = 0.02,
              progress: Callable[[str], None] | None = None) -> list[Result]:
    """Run every case in turn, reporting ``[i/N] label …`` to ``progress`` before each."""
    results = []
    for i, spec in enumerate(specs, 1):
        if progress is not None:
            progress(f"[{i}/{len(specs)}] {spec.label} …")
        results.append(run_case(spec, blocks=blocks, min_time=min_time))
    return results


def stderr_progress(msg: str) -> None:
    """Print a progress line on stderr (and flush it, so that it shows while the case runs)."""
    print(msg, file=sys.stderr, flush=True)


# ---- output -------------------------------------------------------------------------------
def write_csv(results: Iterable[Result], path: str | os.PathLike[str]) -> Path:
    """Write the results as CSV (columns :data:`RESULT_COLUMNS`) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in asdict(r).items()})
    return path


def _fmt(t: float) -> str:
    return f"{t:.3g}" if t < 100 else f"{t:,.0f}"


@dataclass(frozen=True)
class Skipped:
    """A case left out on purpose, shown in the table with the reason."""

    operator: str
    backend: str
    n: int
    reason: str


TABLE_HEADER = ("operator", "backend", "n", "adopt µs", "bare µs", "ratio", "min ratio", "paired ratio",
                "baseline")


def table_rows(results: Iterable[Result], skipped: Iterable[Skipped] = ()) -> list[list[str]]:
    """Header and rows of the table (see :data:`TABLE_HEADER`); skipped cases last."""
    rows = [list(TABLE_HEADER)]
    for r in results:
        flag = "" if r.agree else " [results differ!]"
        rows.append([r.operator, r.backend, str(r.n), _fmt(r.adopt_us), _fmt(r.bare_us),
                     f"{r.ratio:.2f}", f"{r.ratio_min:.2f}", f"{r.ratio_paired:.2f}", r.baseline + flag])
    for s in skipped:
        rows.append([s.operator, s.backend, str(s.n), "—", "—", "—", "—", "—", f"skipped: {s.reason}"])
    return rows


def format_table(results: Iterable[Result], skipped: Iterable[Skipped] = (),
                 markdown: bool = False) -> str:
    """The results as an aligned text table, or a markdown table."""
    rows = table_rows(results, skipped)
    right = (2, 3, 4, 5, 6, 7)
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("---:" if i in right else "---" for i in range(len(rows[0]))) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells + [row[-1]]))
    return "\n".join(out)


def environment() -> str:
    """One line describing the machine and the framework versions."""
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"{os.cpu_count()} CPUs", platform.machine()]
    for name in ("jax", "torch", "scipy"):
        mod = sys.modules.get(name)
        if mod is not None:
            parts.append(f"{name} {mod.__version__}")
    if "jax" in sys.modules:
        parts.append(f"jax_enable_x64={sys.modules['jax'].config.jax_enable_x64}")
    if "torch" in sys.modules:
        parts.append(f"torch threads={sys.modules['torch'].get_num_threads()}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    return ", ".join(parts)


def write_markdown(results: Sequence[Result], path: str | os.PathLike[str], title: str,
                   notes: Sequence[str] = (), skipped: Sequence[Skipped] = ()) -> Path:
    """Write the results as a markdown page: title, environment, table, notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [f"# {title}", "", environment(), "", format_table(results, skipped, markdown=True), ""]
    text += [f"- {n}" for n in notes]
    path.write_text("\n".join(text) + "\n")
    return path


# ---- benchmark scripts -------------------------------------------------------------------
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"10,1000,1e5"`` -> ``(10, 1000, 100000)``."""
    try:
        sizes = tuple(int(float(s)) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes must be comma-separated integers, e.g. 10,1000; got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive integers; got {text!r}")
    return sizes


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every benchmark script takes (it may add its own)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and fewer, shorter blocks (about a minute)")
    p.add_argument("--sizes", type=parse_sizes, default=None, metavar="N,N,...",
                   help="sizes of x (default: the module's own)")
    p.add_argument("--blocks", type=int, default=None,
                   help="interleaved timing blocks per function (default 9, quick 5)")
    p.add_argument("--min-time", type=float, default=None, metavar="SECONDS",
                   help="minimum duration of a block (default 0.02, quick 0.01)")
    p.add_argument("--backends", type=_names, default=None, metavar="NAME,...",
                   help="e.g. AutoJAX,AutoTorch (default: every installed backend)")
    p.add_argument("--operators", type=_names, default=None, metavar="NAME,...",
                   help="e.g. gradient,hvp (default: all)")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR,
                   help=f"where to write <name>.csv and <name>.md (default {RESULTS_DIR})")
    return p


def setup_frameworks() -> None:
    """Switch JAX to float64 for this process, as a user of adopt would (if JAX is installed)."""
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)


def report(specs: Sequence[CaseSpec], name: str, title: str, args: argparse.Namespace,
           notes: Sequence[str] = (), skipped: Sequence[Skipped] = ()) -> int:
    """Run the cases, write ``<out-dir>/<name>.csv`` and ``.md``, print the table.

    Returns the exit code: 0, or 1 if adopt and a baseline disagreed on some case.
    """
    blocks = args.blocks or (5 if args.quick else 9)
    min_time = args.min_time if args.min_time is not None else (0.01 if args.quick else 0.02)
    results = run_cases(specs, blocks=blocks, min_time=min_time, progress=stderr_progress)
    csv_path = write_csv(results, args.out_dir / f"{name}.csv")
    md_path = write_markdown(results, args.out_dir / f"{name}.md", title, notes, skipped)
    print(f"\n{title}\n{environment()}\n")
    print(format_table(results, skipped))
    for n in notes:
        print(f"- {n}")
    print(f"\nwritten: {csv_path}\n         {md_path}")
    bad = [r for r in results if not r.agree]
    for r in bad:
        print(f"adopt and the baseline disagree: {r.backend} {r.operator} n={r.n}", file=sys.stderr)
    return 1 if bad else 0
