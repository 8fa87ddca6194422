"""The benchmark harness shared by every benchmark module in benchmarks/.

The timing and the result writers live in the package (``adopt._bench``, also used by
``adopt demo``); this module adds what a benchmark *script* needs: the common command-line
flags, switching JAX to float64 (the benchmark is the user: adopt never flips it), and
running a list of cases into ``benchmarks/results/<name>.csv`` and ``<name>.md``.

A new benchmark module (e.g. sparse Jacobians of the Brusselator) builds a list of
:class:`CaseSpec` (each with a ``build()`` returning a :class:`Case`: the prepared adopt call
and one or more bare baselines) and calls :func:`report`::

    from _harness import Case, CaseSpec, parser, report, setup_frameworks

    def main(argv=None):
        args = parser("Sparse Jacobians").parse_args(argv)
        setup_frameworks()
        specs = [CaseSpec("jacobian", "AutoSparse(AutoJAX())", n, lambda n=n: build(n)) for n in args.sizes or (32, 2048)]
        return report(specs, "sparse", "Sparse Jacobians", args)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from adopt._bench import (  # noqa: F401 - re-exported for benchmark modules
    Case,
    CaseSpec,
    Result,
    Skipped,
    Timing,
    environment,
    format_table,
    measure,
    measure_all,
    run_case,
    run_cases,
    stderr_progress,
    write_csv,
    write_markdown,
)

__all__ = [
    "Case", "CaseSpec", "Result", "Skipped", "Timing", "measure", "measure_all", "run_case",
    "run_cases", "write_csv", "write_markdown", "format_table", "environment",
    "RESULTS_DIR", "parser", "parse_sizes", "setup_frameworks", "report",
]

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
