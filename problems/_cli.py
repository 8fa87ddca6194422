"""``adopt problems``: run the catalogue on the installed backends and print the outcomes.

One row per problem x backend: outcome, error against the reference, iterations, function
evaluations, derivative (operator) calls, time and the operators called; then the union of the
operators over the run. ``--plot FILE`` draws the convergence histories and the sparsity pattern
of a sparse Jacobian colored by its column coloring (needs matplotlib). Like ``adopt demo``, the
command turns on JAX's x64 mode for its own process, as a user who wants float64 does.

Examples
--------
>>> from adopt.problems._cli import run
>>> run(["--kind", "scalar", "--backend", "fd", "--quiet"])
0
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any, Callable, Sequence, TextIO

import adopt
from adopt.problems._catalog import catalog
from adopt.problems._problem import KINDS, Outcome, Problem
from adopt.problems._report import markdown_table, operators_table, text_table

__all__ = ["run", "BACKENDS"]

#: command-line backend names
BACKENDS: dict[str, Callable[[], Any]] = {"jax": adopt.AutoJAX, "torch": adopt.AutoTorch,
                                          "fd": adopt.AutoFiniteDiff}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adopt problems", description="Solve the problem library (adopt.problems) with adopt's "
        "reference algorithms on each backend and compare every answer with its reference.")
    p.add_argument("--kind", choices=KINDS, help="only problems of this kind")
    p.add_argument("--backend", choices=sorted(BACKENDS), action="append",
                   help="a backend to run (repeatable; default: every installed one)")
    p.add_argument("--quick", action="store_true", help="only the quick slice (small sizes)")
    p.add_argument("--name", action="append", help="only problems whose name contains this text "
                   "(repeatable: any of them)")
    p.add_argument("--plot", metavar="FILE", help="write convergence histories and a sparsity "
                   "pattern with its coloring to FILE (needs matplotlib)")
    p.add_argument("--markdown", metavar="FILE", help="also write the table, and which operators "
                   "each algorithm called, as Markdown to FILE")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--quiet", action="store_true", help="print nothing; the exit code tells")
    return p


class _Progress:
    """tqdm when installed, else a counter line on stderr; nothing when disabled."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.bar = total, 0, None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, file=sys.stderr, unit="solve")

    def step(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_description(label[:40])
            self.bar.update()
        elif self.enabled:
            print(f"\r[{self.done}/{self.total}] {label[:60]:<60}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(file=sys.stderr)


def _enable_x64() -> None:
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)


def _select(args: argparse.Namespace) -> list[Problem]:
    return [p for p in catalog(args.kind) if (not args.quick or p.quick)
            and (args.name is None or any(n in p.name for n in args.name))]


def _solve_all(problems: list[Problem], backends: dict[str, Any], progress: _Progress
               ) -> tuple[list[Outcome], list[str]]:
    outcomes, notes = [], []
    for p in problems:
        for label, b in backends.items():
            progress.step(f"{p.name} {label}")
            try:
                outcomes.append(p.solve(b))
            except (NotImplementedError, adopt.MissingDependencyError) as e:
                notes.append(f"not run: {e}")
            except Exception as e:  # noqa: BLE001 - reported as a failure with its traceback
                tb = traceback.format_exception_only(type(e), e)[-1].strip()
                notes.append(f"ERROR {p.name} on {label}: {tb}")
    return outcomes, notes


def run(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``adopt problems`` with the command-line arguments ``argv``; the exit code is 0 when
    every solve succeeded (problems a backend cannot reach, and those whose solver is not
    installed, are listed as not run, not counted)."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    _enable_x64()
    names = args.backend or [n for n in BACKENDS if adopt.check_available(BACKENDS[n]())]
    backends = {n: BACKENDS[n]() for n in names}
    problems = _select(args)
    enabled = sys.stderr.isatty() if args.progress is None else args.progress
    progress = _Progress(len(problems) * len(backends), enabled and not args.quiet)
    try:
        outcomes, notes = _solve_all(problems, backends, progress)
    finally:
        progress.close()
    if not args.quiet:
        out.write(text_table(outcomes))
        used = sorted(set().union(*(o.operators for o in outcomes))) if outcomes else []
        out.write(f"\noperators called: {', '.join(used)} ({len(used)} of 8)\n")
        for o in outcomes:
            if not o.success:
                out.write(f"FAILED {o.problem} on {o.backend}: {o.message}\n")
        out.write("".join(n + "\n" for n in notes))
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown_table(outcomes) + "\n" + operators_table(outcomes))
    if args.plot:
        from adopt.problems._plot import plot

        plot(outcomes, problems, next(iter(backends.values())), args.plot)
    failed = any(not o.success for o in outcomes) or any(n.startswith("ERROR") for n in notes)
    return 1 if failed else 0
