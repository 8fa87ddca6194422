"""Outcome tables: aligned text for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Iterable, Sequence

from adopt.problems._problem import Outcome

__all__ = ["markdown_table", "operators_table", "text_table", "HEADER"]

HEADER = ("problem", "backend", "method", "outcome", "error", "tolerance", "iterations", "f evals",
          "derivative calls", "time [s]", "operators")


def _row(o: Outcome) -> list[str]:
    return [o.problem, o.backend, o.method, "ok" if o.success else "FAILED", f"{o.error:.1e}",
            f"{o.tolerance:.0e}", str(o.iterations), str(o.nfev), str(o.nder), f"{o.time:.2f}",
            ", ".join(sorted(o.operators))]


def _failures(outcomes: Sequence[Outcome]) -> list[str]:
    return [f"{o.problem} on {o.backend}: {o.message}" for o in outcomes if not o.success]


def markdown_table(outcomes: Iterable[Outcome]) -> str:
    """The outcomes as a Markdown table (one row per problem x backend), then the union of the
    operators called and the reasons for any failure.

    Examples
    --------
    >>> import adopt
    >>> from adopt.problems import markdown_table, problem
    >>> out = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff())
    >>> markdown_table([out]).splitlines()[2].split(" | ")[:4]
    ['| scalar/kepler/e0.5/M1', 'AutoFiniteDiff', 'halley', 'ok']
    """
    outcomes = list(outcomes)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_row(o)) + " |" for o in outcomes]
    used = sorted(set().union(*(o.operators for o in outcomes))) if outcomes else []
    lines += ["", f"Operators called: {', '.join(used)} ({len(used)} of 8)."]
    lines += [f"- {line}" for line in _failures(outcomes)]
    return "\n".join(lines) + "\n"


def text_table(outcomes: Iterable[Outcome]) -> str:
    """The outcomes as aligned text columns, for a terminal."""
    rows = [list(HEADER)] + [_row(o) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows) + "\n"


def operators_table(outcomes: Iterable[Outcome]) -> str:
    """Which adopt operators each algorithm called, as recorded over ``outcomes``: a Markdown
    table with one row per method (``lm``, ``newton/sparse``, ``rodas``, ...), the operators its
    runs called, and on which backends and how many problems it ran.

    Examples
    --------
    >>> import adopt
    >>> from adopt.problems import problem
    >>> from adopt.problems._report import operators_table
    >>> out = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff())
    >>> operators_table([out]).splitlines()[2]
    '| halley | derivative, second_derivative | AutoFiniteDiff | 1 |'
    """
    rows: dict[str, tuple[set, set, set]] = {}
    for o in outcomes:
        ops, backends, problems = rows.setdefault(o.method, (set(), set(), set()))
        ops |= o.operators
        backends.add(o.backend)
        problems.add(o.problem)
    lines = ["| algorithm (method) | operators called | backends | problems |", "|---|---|---|---|"]
    lines += [f"| {m} | {', '.join(sorted(ops))} | {', '.join(sorted(b))} | {len(p)} |"
              for m, (ops, b, p) in sorted(rows.items())]
    return "\n".join(lines) + "\n"
