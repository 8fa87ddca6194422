"""The ``adopt`` command line: ``adopt demo``, ``adopt problems`` and ``adopt bench``.

- ``adopt demo`` checks every installed backend and shows what it costs, in under a minute:
  the conformance suite of :mod:`adopt.testing` (dense and sparse), the prepared gradient and
  Hessian-vector product at n = 1000 against the bare framework, the SciPy adapters of
  :mod:`adopt.solvers.scipy` on one small problem each and, timed against the plain SciPy
  route, one minimize, one sparse least_squares, one newton_krylov and one stiff solve_ivp, and
  a slice of ``adopt problems``.
  Exit code 0 only if every check passed.
- ``adopt problems`` solves the problem library (:mod:`adopt.problems._cli`).
- ``adopt bench`` runs the dense benchmark harness, ``benchmarks/run.py`` (from a checkout).

The demo turns on JAX x64 for its own process, as a user who wants float64 would: adopt
itself never does.

Examples
--------
>>> from adopt.problems.cli import main
>>> main(["problems", "--kind", "scalar", "--backend", "fd", "--quiet"])
0
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import numpy as np

import adopt

__all__ = ["main"]

_BACKENDS = ("AutoJAX", "AutoTorch", "AutoFiniteDiff")
_PROBLEMS = (("--quick", "--name", "nist/Misra1a"), ("--quick", "--name", "minimize/rosenbrock/2"))
_DEMO_HELP = """\
Check every installed backend and time it, in under a minute: adopt.testing's conformance
scenarios (closed-form answers, prepared at one point and run at another, dense and sparse),
the prepared gradient and hvp at n = 1000 against the bare framework (jax.jit(jax.grad(f)),
eager torch.autograd, scipy approx_derivative), adopt.solvers.scipy's minimize and
least_squares on one small problem each, one minimize, sparse least_squares, newton_krylov and
stiff solve_ivp timed against plain SciPy, and a slice of `adopt problems`.

The demo turns on JAX x64 for its own process (jax.config.update("jax_enable_x64", True)), as a
user who wants float64 would; adopt itself never does. Exit code 0 only if every check passed.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adopt`` console script; returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        return bench(extra)
    if args.command == "problems":
        from adopt.problems._cli import run

        return run(extra, sys.stdout)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return demo(quick=args.quick)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adopt", description="adopt: one differentiation interface over JAX, PyTorch and "
        "NumPy finite differences.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,problems,bench}")
    demo_p = sub.add_parser("demo", help="check every installed backend and time it against the "
                            "bare framework", description=_DEMO_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    demo_p.add_argument("--quick", action="store_true",
                        help="one scenario per operator, timing at n = 100 (for tests)")
    sub.add_parser("problems", add_help=False, help="solve the problem library on the installed "
                   "backends (`adopt problems --help` for its options)")
    sub.add_parser("bench", add_help=False, help="the full dense benchmark harness, "
                   "benchmarks/run.py (from a checkout; `adopt bench --help` for its options)")
    return parser


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
def demo(quick: bool = False, out: TextIO | None = None,
         progress: Callable[[str], None] | None = None) -> int:
    """Run the demo (see the module docstring); return 0 if every check passed, else 1."""
    out = out or sys.stdout
    progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    x64 = _enable_x64()
    installed = [b for b in _BACKENDS if adopt.check_available(_backend(b))]
    print(f"adopt {adopt.__version__} demo", file=out)
    if x64:
        print("JAX x64 was turned on for this process by the demo (adopt never does it itself).",
              file=out)
    for b in _BACKENDS:
        if b not in installed:
            print(f"{b}: not installed: pip install 'adopt[{_backend(b).extra}]'", file=out)
    failures: list[str] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for section in _SECTIONS:
        failures += section(installed, quick, out, progress)
        progress(f"  ({time.perf_counter() - t0:.1f} s so far, {time.process_time() - c0:.1f} s CPU)")
    print(file=out)
    print("✗ " + "\n✗ ".join(failures) if failures else "✓ every check passed", file=out)
    return 1 if failures else 0


def _backend(name: str) -> Any:
    return getattr(adopt, name)()


def _enable_x64() -> bool:
    """The demo is the user here: it asks JAX for float64 (if JAX is installed)."""
    try:
        import jax
    except ImportError:
        return False
    jax.config.update("jax_enable_x64", True)
    return True


def _native(name: str) -> Callable[[np.ndarray], Any]:
    """NumPy to the backend's own arrays."""
    if name == "AutoJAX":
        import jax.numpy as jnp

        return jnp.asarray
    if name == "AutoTorch":
        import torch

        return torch.from_numpy
    return lambda a: a


def _table(rows: list[list[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


# ---- 1. conformance -------------------------------------------------------------------------
def _conformance(installed: list[str], quick: bool, out: TextIO,
                 progress: Callable[[str], None]) -> list[str]:
    """adopt.testing on every installed backend: dense scenarios, then sparse ones."""
    from adopt.testing import check_sparse_backend, default_scenarios, sparse_scenarios

    groups: dict[str, list[Any]] = {}
    for sc in default_scenarios():  # the first one or two function kinds of each operator
        if len(groups.setdefault(sc.operator, [])) < (1 if quick else 2):
            groups[sc.operator].append(sc)
    rows, failures = [["backend", *groups, "AutoSparse"]], []
    for b in installed:
        progress(f"[conformance] {b}: {sum(map(len, groups.values()))} scenarios …")
        row = [b]
        for op, scs in groups.items():
            n = _attempt(partial(_checks, _backend(b), scs), f"conformance {b} {op}", failures)
            row.append("✗" if n is None else f"✓ {n}")
        rtol, atol = (1e-6, 1e-6) if b == "AutoFiniteDiff" else (1e-8, 1e-10)
        n = _attempt(partial(check_sparse_backend, adopt.AutoSparse(_backend(b)),
                             sparse_scenarios()[:: 3 if quick else 2], convert=_native(b),
                             rtol=rtol, atol=atol), f"conformance AutoSparse({b}())", failures)
        rows.append([*row, "✗" if n is None else f"✓ {n}"])
    print("\n1. Conformance (adopt.testing): arrays checked against closed-form answers, prepared "
          "at one point and run at another, NumPy and native inputs", file=out)
    print(_table(rows), file=out)
    return failures


def _checks(backend: Any, scenarios: list[Any]) -> int:
    """The number of arrays checked (AssertionError listing every failed check)."""
    from adopt.testing import check_backend

    return check_backend(backend, scenarios, variants=("plain", "value"),
                         preparation=("prepared",)).checks


def _attempt(fn: Callable[[], Any], what: str, failures: list[str]) -> Any:
    """``fn()``, or None with the error appended to ``failures`` (it fails the demo)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a failed check is reported, not raised
        failures.append(f"{what}: {type(e).__name__}: {str(e)[:2000]}")
        return None


# ---- 2. timing ------------------------------------------------------------------------------
def _interleaved(fns: Sequence[Callable[[], Any]], blocks: int, min_time: float) -> list[float]:
    """Median seconds per call of each function, over blocks run in alternating order (a short
    form of benchmarks/_harness.measure_all: warm-up, calibration, interleaved blocks)."""
    calls = []
    for fn in fns:
        fn()
        k, t = 1, 0.0
        while (t := _block(fn, k)) < min_time:
            k = max(k + 1, int(k * min(10.0, 1.2 * min_time / max(t, 1e-9))))
        calls.append(k)
    times: list[list[float]] = [[] for _ in fns]
    for b in range(blocks):
        for i in range(len(fns)) if b % 2 == 0 else reversed(range(len(fns))):
            times[i].append(_block(fns[i], calls[i]) / calls[i])
    return [statistics.median(t) for t in times]


def _block(fn: Callable[[], Any], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t0


def _timing_cases(name: str, n: int) -> dict[str, tuple[Callable, Callable, str]]:
    """operator -> (prepared adopt call, bare framework call, its name), at n on the benchmark's
    f(x) = sum(sin(x) x²) + sum(x[1:] x[:-1])."""
    b, to, xp = _backend(name), _native(name), _xp(name)
    rng = np.random.default_rng(0)
    x, v = to(rng.standard_normal(n)), to(rng.standard_normal(n))

    def f(x: Any) -> Any:
        return xp.sum(xp.sin(x) * x**2) + xp.sum(x[1:] * x[:-1])

    pg = adopt.prepare_gradient(f, b, x)
    cases = {"gradient": (lambda: adopt.gradient(f, b, x, prep=pg), *_bare(name, "gradient", f, x, v))}
    if name != "AutoFiniteDiff":  # SciPy has no finite-difference hvp to compare with
        ph = adopt.prepare_hvp(f, b, x, (v,))
        cases["hvp"] = (lambda: adopt.hvp(f, b, x, (v,), prep=ph)[0], *_bare(name, "hvp", f, x, v))
    if name == "AutoJAX":  # wait for JAX's asynchronous results inside the timed loop
        cases = {op: (lambda a=a: a().block_until_ready(), lambda r=r: r().block_until_ready(), d)
                 for op, (a, r, d) in cases.items()}
    return cases


def _xp(name: str) -> Any:
    if name == "AutoJAX":
        import jax.numpy as jnp

        return jnp
    if name == "AutoTorch":
        import torch

        return torch
    return np


def _bare(name: str, op: str, f: Callable, x: Any, v: Any) -> tuple[Callable, str]:
    """The bare framework computing the gradient or the hvp of ``f``, and its name."""
    if name == "AutoJAX":
        import jax

        if op == "gradient":
            g = jax.jit(jax.grad(f))
            return (lambda: g(x)), "jax.jit(jax.grad(f))"
        h = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        return (lambda: h(x, v)), "jax.jit(jvp(grad(f)))"
    if name == "AutoTorch":
        import torch

        def grad(create_graph: bool = False) -> tuple[Any, Any]:
            xg = x.detach().requires_grad_(True)
            return torch.autograd.grad(f(xg), xg, create_graph=create_graph)[0], xg

        if op == "gradient":
            return (lambda: grad()[0]), "torch.autograd.grad"

        def hvp() -> Any:
            g, xg = grad(create_graph=True)
            return torch.autograd.grad(g, xg, v)[0]

        return hvp, "torch.autograd double backward"
    from scipy.optimize._numdiff import approx_derivative  # the function behind SciPy's solvers

    return (lambda: approx_derivative(f, x, method="3-point")), "scipy approx_derivative(3-point)"


def _timing(installed: list[str], quick: bool, out: TextIO,
            progress: Callable[[str], None]) -> list[str]:
    """Prepared adopt calls against the bare framework doing the same work, interleaved."""
    n = 100 if quick else 1000
    rows = [["backend", "operator", "adopt µs", "bare µs", "ratio", "bare framework"]]
    failures = []
    for b in installed:
        progress(f"[timing] {b} at n = {n} …")
        to_numpy = (lambda a: a.detach().numpy()) if b == "AutoTorch" else np.asarray
        for op, (ours, bare, desc) in (_attempt(partial(_timing_cases, b, n), f"timing {b}",
                                                failures) or {}).items():
            agree = np.allclose(to_numpy(ours()), to_numpy(bare()), rtol=1e-6, atol=1e-8)
            t_ours, t_bare = _interleaved([ours, bare], blocks=3 if quick else 5,
                                          min_time=0.002 if quick else 0.02)
            if not agree:
                failures.append(f"timing {b} {op}: adopt and {desc} disagree")
            rows.append([b, op, f"{t_ours * 1e6:,.1f}", f"{t_bare * 1e6:,.1f}",
                         f"{t_ours / t_bare:.2f}×", desc + ("" if agree else "  [results differ!]")])
    print(f"\n2. Prepared-call cost at n = {n}: adopt / the bare framework (median of interleaved "
          "blocks; the full tables: benchmarks/results/dense.md)", file=out)
    print(_table(rows, right=(2, 3, 4)), file=out)
    return failures


# ---- 3. SciPy adapters ----------------------------------------------------------------------
_T = np.linspace(0.0, 4.0, 30)
_Y = 2.5 * np.exp(-1.3 * _T) + 0.5


def _decay(p: Any) -> Any:
    """Residuals of y = a exp(-b t) + c against noise-free data (a, b, c) = (2.5, 1.3, 0.5)."""
    from adopt.problems._arrayapi import namespace

    xp, asarray = namespace(p)
    return p[0] * xp.exp(-p[1] * asarray(_T)) + p[2] - asarray(_Y)


def _rosenbrock(x: Any) -> Any:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def _scipy(installed: list[str], quick: bool, out: TextIO,
           progress: Callable[[str], None]) -> list[str]:
    """adopt.solvers.scipy on each backend, then the four routes of issue 8 timed against the
    plain SciPy route (finite differences, or jac_sparsity differencing) on one backend."""
    from adopt.solvers.scipy import least_squares, minimize

    runs = [("minimize(rosenbrock n=10, method='trust-exact')", np.ones(10), lambda b: minimize(
                _rosenbrock, np.zeros(10), method="trust-exact", backend=b)),
            ("least_squares(a exp(-b t) + c)", np.array([2.5, 1.3, 0.5]), lambda b: least_squares(
                _decay, np.array([1.0, 1.0, 0.0]), backend=b))]
    rows = [["call", "backend", "success", "iterations", "f evals", "|x - x*|"]]
    failures = []
    for b in installed:
        progress(f"[scipy] {b} …")
        for label, want, solve in runs:
            res = _attempt(partial(solve, _backend(b)), f"scipy {label} on {b}", failures)
            if res is None:
                rows.append([label, b, "✗", "", "", "error"])
                continue
            err = float(np.abs(np.asarray(res.x) - want).max())
            ok = bool(res.success) and err < 1e-6
            if not ok:
                failures.append(f"scipy {label} on {b}: success={res.success}, error {err:.1e}")
            its = res.get("nit", res.get("njev"))
            rows.append([label, b, "✓" if ok else "✗", str(its), str(res.nfev), f"{err:.1e}"])
    print("\n3. SciPy adapters (adopt.solvers.scipy): SciPy's solvers with the backend's exact "
          "derivatives (least_squares counts Jacobian evaluations as iterations)", file=out)
    print(_table(rows, right=(3, 4, 5)), file=out)
    fast = next((b for b in ("AutoJAX", "AutoTorch") if b in installed), None)
    if fast is not None:
        failures += _scipy_routes(fast, quick, out, progress)
    return failures


def _scipy_routes(name: str, quick: bool, out: TextIO, progress: Callable[[str], None]) -> list[str]:
    """One minimize, one sparse least_squares, one newton_krylov, one stiff solve_ivp: the adopt
    route (a second solve: the preparation is cached) against the plain SciPy route."""
    import scipy.integrate as si
    import scipy.optimize as so
    import scipy.sparse as sp

    from adopt.problems.mgh import _broyden_tridiagonal as broyden
    from adopt.problems.systems import bratu_residual
    from adopt.solvers.scipy import least_squares, minimize, newton_krylov, solve_ivp

    from adopt.problems.ode import bruss2d_rhs, bruss2d_y0

    b, m = _backend(name), 2000 if quick else 10_000
    bratu, bruss, y0 = bratu_residual(32, 6.0), bruss2d_rhs(16), bruss2d_y0(16)
    band = sp.diags([np.ones(m - 1), np.ones(m), np.ones(m - 1)], [-1, 0, 1])
    start = np.tile([-1.2, 1.0], 100)
    routes = [
        ("minimize(rosenbrock n=200, L-BFGS-B)", "jac='2-point'",
         lambda: minimize(_rosenbrock, start, method="L-BFGS-B", backend=b),
         lambda: so.minimize(_rosenbrock, start, method="L-BFGS-B"),
         lambda r, _: r.success and np.abs(r.x - 1).max() < 1e-3),
        (f"least_squares(broyden tridiagonal n={m}, lsmr)", "'2-point' + jac_sparsity",
         lambda: least_squares(broyden, -np.ones(m), tr_solver="lsmr", backend=adopt.AutoSparse(b)),
         lambda: so.least_squares(broyden, -np.ones(m), tr_solver="lsmr", jac_sparsity=band),
         lambda r, _: r.success and r.cost < 1e-12),
        ("newton_krylov(bratu 32x32, lambda=6)", "SciPy's difference JVPs",
         lambda: newton_krylov(bratu, np.zeros(1024), f_tol=1e-9, backend=b),
         lambda: so.OptimizeResult(x=so.newton_krylov(bratu, np.zeros(1024), f_tol=1e-9),
                                   success=True),  # SciPy raises NoConvergence on failure
         lambda r, _: r.success and np.abs(r.fun).max() <= 1e-9),
        ("solve_ivp(brusselator 2D 16x16, BDF)", "jac by dense differences",
         lambda: solve_ivp(bruss, (0.0, 1.0), y0, method="BDF", backend=adopt.AutoSparse(b)),
         lambda: si.solve_ivp(bruss, (0.0, 1.0), y0, method="BDF"),
         lambda r, ref: r.success and np.abs(r.y[:, -1] - ref.y[:, -1]).max() < 1e-3),
    ]
    rows = [["route", "success", "adopt s", "SciPy route", "SciPy success", "SciPy s", "ratio"]]
    failures = []
    for label, plain, ours, theirs, good in routes:
        progress(f"[scipy] {label} on {name} …")
        if _attempt(ours, f"scipy {label} on {name}", failures) is None:  # prepares (cached)
            rows.append([label, "✗", "", plain, "", "", ""])
            continue
        t0 = time.perf_counter()
        res = ours()
        t1 = time.perf_counter()
        ref = theirs()
        t2 = time.perf_counter()
        ok = bool(good(res, ref))
        if not ok:
            failures.append(f"scipy {label} on {name}: did not reach its answer")
        rows.append([label, "✓" if ok else "✗", f"{t1 - t0:.3f}", plain,
                     "yes" if ref.success else "no", f"{t2 - t1:.3f}", f"{(t1 - t0) / (t2 - t1):.2f}×"])
    print(f"\nThe same solves through adopt ({name}; a second solve, its preparation cached) "
          "and through plain SciPy, one run each (benchmarks/scipy_adapters.py measures them "
          "properly)", file=out)
    print(_table(rows, right=(2, 5, 6)), file=out)
    return failures


# ---- 4. problems ----------------------------------------------------------------------------
def _problems(installed: list[str], quick: bool, out: TextIO,
              progress: Callable[[str], None]) -> list[str]:
    """A slice of ``adopt problems``: certified references, adopt's reference algorithms."""
    from adopt.problems._cli import run

    print("\n4. adopt problems (a slice; `adopt problems --quick` runs them all): reference "
          "algorithms on adopt, against certified answers", file=out)
    backends = [a for b in installed for a in ("--backend", _CLI_NAME[b])]
    failures = []
    for argv in _PROBLEMS[:1] if quick else _PROBLEMS:
        progress(f"[problems] adopt problems {' '.join(argv)} …")
        print(f"$ adopt problems {' '.join(argv)}", file=out)
        if run([*argv, *backends, "--no-progress"], out) != 0:
            failures.append(f"adopt problems {' '.join(argv)} failed")
    return failures


_CLI_NAME = {"AutoJAX": "jax", "AutoTorch": "torch", "AutoFiniteDiff": "fd"}

#: the demo's sections, in order: each prints its table and returns its failures
_SECTIONS = (_conformance, _timing, _scipy, _problems)
