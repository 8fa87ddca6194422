"""The ``adopt`` command line: ``adopt demo`` and ``adopt bench``.

``adopt demo`` runs the conformance suite of :mod:`adopt.testing` on every installed backend
and a short benchmark (gradient, Jacobian and Hessian-vector product at n = 1000, prepared
adopt call against the bare framework), and prints one table. The demo turns on JAX x64 for
its own process (``jax.config.update("jax_enable_x64", True)``), as a user who wants float64
would: adopt itself never flips it. Exit code 0 if every check passed, 1 otherwise.

``adopt bench`` runs the full dense benchmark harness, ``benchmarks/run.py``, which lives in
the repository next to the package (run it from a checkout).

Examples
--------
>>> from adopt.cli import main
>>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

__all__ = ["main"]

_BACKENDS = ("AutoJAX", "AutoTorch", "AutoFiniteDiff")
_OPERATORS = ("pushforward", "pullback", "derivative", "gradient", "jacobian",
              "second_derivative", "hvp", "hessian")
_BENCH_OPERATORS = ("gradient", "jacobian", "hvp")
_DEMO_HELP = """\
Run adopt's conformance scenarios (adopt.testing) on every installed backend, and time the
prepared gradient, jacobian and hvp at n = 1000 against the bare framework (jax.jit(jax.grad(f)),
torch.autograd / torch.func, scipy approx_derivative). Prints a table: operator x backend,
correct? (checks passed), prepared time, and the ratio to the bare framework.

The demo turns on JAX x64 for its own process (jax.config.update("jax_enable_x64", True)), as a
user who wants float64 would; adopt itself never does. Exit code 0 if every check passed, 1
otherwise. The full run takes a few minutes (JAX compiles every operator variant); --quick
checks one scenario per operator and benchmarks at n = 100 in well under a minute.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adopt`` console script; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        return bench(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return demo(quick=args.quick, n=args.n)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adopt", description="adopt: one differentiation interface over JAX, PyTorch and "
        "NumPy finite differences.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,bench}")
    demo_p = sub.add_parser("demo", help="check every installed backend and time it against "
                            "the bare framework", description=_DEMO_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    demo_p.add_argument("--quick", action="store_true",
                        help="one scenario per operator, fewer variants, benchmark at n = 100")
    demo_p.add_argument("--n", type=int, default=None,
                        help="size of x for the benchmark (default 1000; 100 with --quick)")
    sub.add_parser("bench", add_help=False,
                   help="the full dense benchmark harness, benchmarks/run.py (from a checkout; "
                   "`adopt bench --help` for its options)")
    return parser


# ---- bench ------------------------------------------------------------------------------
def bench(argv: Sequence[str]) -> int:
    """Run ``benchmarks/run.py`` of the checkout this package was installed from."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    if not path.is_file():
        print("adopt bench: the benchmark harness is not part of the installed package; "
              "run from a checkout: python benchmarks/run.py", file=sys.stderr)
        return 1
    spec = importlib.util.spec_from_file_location("adopt_benchmarks_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(list(argv)))


# ---- demo -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Check:
    """The conformance result of one operator on one backend."""

    passed: int
    failed: int
    skipped: int
    detail: str = ""

    @property
    def mark(self) -> str:
        if self.failed:
            return f"✗ {self.failed} failed"
        return f"✓ {self.passed}"


def _backend(name: str) -> Any:
    import adopt

    return getattr(adopt, name)()


def _enable_x64() -> bool:
    """The demo is the user here: it asks JAX for float64 (if JAX is installed)."""
    try:
        import jax
    except ImportError:
        return False
    jax.config.update("jax_enable_x64", True)
    return True


def _scenarios(quick: bool) -> dict[str, list[Any]]:
    from adopt.testing import all_scenarios, default_scenarios

    groups: dict[str, list[Any]] = {op: [] for op in _OPERATORS}
    for sc in default_scenarios() if quick else all_scenarios():
        if not quick or not groups[sc.operator]:
            groups[sc.operator].append(sc)
    return {op: scs for op, scs in groups.items() if scs}


def _check(backend: Any, scenarios: list[Any], quick: bool) -> _Check:
    from adopt.testing import check_backend

    kw: dict[str, Any] = {}
    if quick:
        kw = dict(variants=("plain", "value"), preparation=("prepared",))
    try:
        report = check_backend(backend, scenarios, **kw)
    except AssertionError as e:
        m = re.search(r"(\d+) failed check\(s\) \((\d+) passed\)", str(e))
        failed, passed = (int(m.group(1)), int(m.group(2))) if m else (1, 0)
        return _Check(passed, failed, 0, str(e))
    except Exception as e:  # noqa: BLE001 - an error is a failed check, reported with its message
        return _Check(0, 1, 0, f"{type(e).__name__}: {e}")
    return _Check(report.checks, 0, len(report.skipped))


def demo(quick: bool = False, n: int | None = None, out: TextIO | None = None,
         progress: Callable[[str], None] | None = None) -> int:
    """Run the demo (see the module docstring); return 0 if every check passed, else 1."""
    import adopt
    from adopt import _bench

    out = out or sys.stdout
    progress = progress or _bench.stderr_progress
    x64 = _enable_x64()
    n = n or (100 if quick else 1000)
    installed = [b for b in _BACKENDS if adopt.check_available(_backend(b))]
    groups = _scenarios(quick)
    specs = _bench.dense_specs(backends=installed, operators=_BENCH_OPERATORS, sizes=(n,),
                               matrix_sizes=(n,), numpy_input_n=None, fd_methods=("central",))
    total, step = len(installed) * len(groups) + len(specs), 0
    checks: dict[tuple[str, str], _Check] = {}
    for b in installed:
        for op, scs in groups.items():
            step += 1
            progress(f"[{step}/{total}] {b} {op}: {len(scs)} scenario(s) …")
            checks[b, op] = _check(_backend(b), scs, quick)
    timings: dict[tuple[str, str], Any] = {}
    for spec in specs:
        step += 1
        progress(f"[{step}/{total}] {spec.label} …")
        timings[spec.backend, spec.operator] = _time(spec, quick)
    _print_table(out, installed, groups, checks, timings, n, x64)
    sparse_ok = _sparse_demo(out, progress, installed, quick)
    failed = any(c.failed for c in checks.values()) or any(
        isinstance(r, str) or not r.agree for r in timings.values()) or not sparse_ok
    return 1 if failed else 0


def _sparse_demo(out: TextIO, progress: Callable[[str], None], installed: list[str], quick: bool) -> bool:
    """Sparse Jacobians and Hessians: conformance on the sparse scenarios, then the Brusselator."""
    import adopt
    from adopt._sparse_bench import headlines
    from adopt.testing import check_sparse_backend, sparse_scenarios

    convert = {"AutoJAX": "jax", "AutoTorch": "torch", "AutoFiniteDiff": "numpy"}
    rows = [["sparse backend", "correct?", "Brusselator N", "colors", "prep s", "adopt µs", "vs", "speed-up"]]
    ok = True
    scenarios = sparse_scenarios()[: 4 if quick else None]
    for i, b in enumerate(installed):
        progress(f"[sparse {i + 1}/{len(installed)}] AutoSparse({b}()) scenarios and Brusselator …")
        tol = (1e-6, 1e-6) if b == "AutoFiniteDiff" else (1e-8, 1e-10)
        try:
            n_checks = check_sparse_backend(adopt.AutoSparse(_backend(b)), scenarios,
                                            convert=_converter(convert[b]), rtol=tol[0], atol=tol[1])
            mark = f"✓ {n_checks}"
        except Exception as e:  # noqa: BLE001 - a failed check is reported, not raised
            ok, mark = False, f"✗ {type(e).__name__}"
        h = headlines([b], N=16 if quick else 32, blocks=3 if quick else 5,
                      min_time=0.005 if quick else 0.02)[0]
        ok = ok and h.agree
        rows.append([f"AutoSparse({b}())", mark, str(h.N), str(h.colors), f"{h.prep_s:.2f}",
                     f"{h.adopt_us:,.1f}", h.reference, f"{h.speedup:.2f}×" + ("" if h.agree else " [differ!]")])
    print("\nSparse Jacobians (2D Brusselator, n = 2N²): prepared AutoSparse call vs the reference tool",
          file=out)
    print(_plain_table(rows), file=out)
    return ok


def _converter(kind: str) -> Callable[[Any], Any]:
    if kind == "jax":
        import jax.numpy as jnp

        return jnp.asarray
    if kind == "torch":
        import torch

        return torch.from_numpy
    return lambda a: a


def _plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _time(spec: Any, quick: bool) -> Any:
    """A benchmark result, or the error message if the case could not run."""
    from adopt import _bench

    try:
        return _bench.run_case(spec, blocks=3 if quick else 5, min_time=0.005 if quick else 0.02)
    except Exception as e:  # noqa: BLE001 - shown in the table and counted as a failure
        return f"error: {type(e).__name__}: {e}"


def _print_table(out: TextIO, installed: list[str], groups: dict[str, list[Any]],
                 checks: dict[tuple[str, str], _Check], timings: dict[tuple[str, str], Any],
                 n: int, x64: bool) -> None:
    import adopt

    rows = [["backend", "operator", "correct?", f"adopt µs (n={n})", "bare µs", "ratio", "bare framework"]]
    for b in _BACKENDS:
        if b not in installed:
            rows.append([b, f"not installed: pip install 'adopt[{_backend_extra(b)}]'", "", "", "", "", ""])
            continue
        for op in groups:
            rows.append([b, op, checks[b, op].mark, *_timing_cells(timings.get((b, op)))])
    print(f"\nadopt {adopt.__version__} demo: conformance (adopt.testing) and prepared-call cost",
          file=out)
    if x64:
        print("JAX x64 was turned on for this process by the demo (adopt never does it itself).",
              file=out)
    print(file=out)
    print(_align(rows), file=out)
    _print_footer(out, installed, checks, timings)


def _backend_extra(name: str) -> str:
    from adopt import backends

    return getattr(backends, name).extra


def _timing_cells(r: Any) -> list[str]:
    if r is None:
        return ["", "", "", ""]
    if isinstance(r, str):
        return ["—", "—", "—", r]
    note = "" if r.agree else "  [results differ!]"
    return [f"{r.adopt_us:,.1f}", f"{r.bare_us:,.1f}", f"{r.ratio:.2f}×", r.baseline + note]


def _align(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows if r[2] or i == 0) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        if not r[2] and r is not rows[0]:   # a "not installed" line spans the row
            lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
            continue
        cells = [c.rjust(w) if i in (3, 4, 5) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells + [r[-1]]).rstrip())
    return "\n".join(lines)


def _print_footer(out: TextIO, installed: list[str], checks: dict[tuple[str, str], _Check],
                  timings: dict[tuple[str, str], Any]) -> None:
    passed = sum(c.passed for c in checks.values())
    failed = sum(c.failed for c in checks.values())
    skipped = {b: sum(c.skipped for (bb, _), c in checks.items() if bb == b) for b in installed}
    print(file=out)
    print(f"correct?: arrays compared with closed-form answers ({passed} passed, {failed} failed); "
          "every operator variant (plain, out=, value_and_), unprepared and prepared at another "
          "point, NumPy and native inputs.", file=out)
    skips = ", ".join(f"{b} {k}" for b, k in skipped.items() if k)
    if skips:
        print(f"skipped combinations (in-place f, out= with immutable arrays): {skips}.", file=out)
    print("ratio: prepared adopt call / bare framework doing the same work, median of "
          "interleaved blocks; hvp has no bare finite-difference baseline in SciPy.", file=out)
    for (b, op), c in checks.items():
        if c.failed:
            print(f"\n✗ {b} {op}:\n{c.detail}", file=out)
    for (b, op), r in timings.items():
        if isinstance(r, str):
            print(f"\n✗ benchmark {b} {op}: {r}", file=out)
