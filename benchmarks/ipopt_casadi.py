"""IPOPT through adopt against CasADi's ``nlpsol("ipopt")`` with its exact Hessian, on the large
sparse NLPs of ``adopt.problems.nlp``: Lukšan–Vlček 1 (Ipopt's LukVlE1) and CLNLBEAM.

Three variants solve the same problem from the same start with the same IPOPT options
(``tol=1e-8``, ``mu_strategy="adaptive"``, cyipopt's defaults, which minimize_ipopt keeps):

- ``casadi``: CasADi 3.8.2, the model in SX, exact derivatives by CasADi's own AD, and the Ipopt
  CasADi bundles (3.14.19, MUMPS 5.8.2 + METIS);
- ``adopt``: ``adopt.solvers.ipopt.minimize_ipopt`` with ``AutoSparse(AutoJAX())``, the functions
  of ``adopt.problems.nlp`` (array API), through cyipopt-wheels' Ipopt (3.14.11, MUMPS 5.5.1);
- ``adopt+casadi-ipopt``: the same, with CasADi's ``libipopt.so.3`` preloaded (``LD_PRELOAD``),
  so that IPOPT's linear algebra is identical to CasADi's: like is compared with like;
- ``adopt+casadi-ipopt+sync``: the same with JAX's CPU async dispatch off
  (``jax_cpu_enable_async_dispatch``), as the README advises for IPOPT.

Sizes: Lukšan–Vlček at n = 5000, 10⁴ and 2·10⁴; CLNLBEAM at N = 1666 and 3334 (n = 5001 and 10005).
Every run is also written to ``results/ipopt.json``.

Each variant runs in its own subprocess (the preload needs one): a cold solve (preparation
included: adopt's tracing, sparsity detection, coloring and compilation; CasADi's ``nlpsol``
construction is reported as its setup), then ``--reps`` warm solves (medians), then one solve
with every derivative callback timed (adopt: around the plugin object's methods; CasADi: its own
``stats()``). Rounds alternate the order of the variants; the table gives medians over rounds.
One BLAS thread everywhere (OPENBLAS_NUM_THREADS=1): on 2 shared cores a spinning BLAS pool
distorts MUMPS.

    python benchmarks/ipopt_casadi.py               # the full run (60 min on 2 heavily shared cores)
    python benchmarks/ipopt_casadi.py --quick       # n = 5000 only, one round
    python benchmarks/ipopt_casadi.py --reference   # f* for the catalogue (CasADi, tol 1e-10)
Writes benchmarks/results/ipopt.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


RESULTS = Path(__file__).resolve().parent / "results"
OPTIONS = {"tol": 1e-8, "mu_strategy": "adaptive", "print_level": 0}
VARIANTS = ("casadi", "adopt", "adopt+casadi-ipopt", "adopt+casadi-ipopt+sync")
#: (problem, size parameter, rounds, warm solves per round) of the full run
CASES = (("luksan_vlcek1", 5000, 3, 2), ("luksan_vlcek1", 10000, 3, 2), ("luksan_vlcek1", 20000, 1, 2),
         ("clnlbeam", 1666, 1, 1), ("clnlbeam", 3334, 1, 1))
QUICK = (("luksan_vlcek1", 5000, 1, 2), ("clnlbeam", 1666, 1, 1))


def _casadi_lib() -> str:
    import casadi

    return str(Path(casadi.__file__).parent / "libipopt.so.3")


# ---- the problems in CasADi (written from the same published formulas) -----------------------
def casadi_problem(name: str, size: int) -> tuple[dict, dict]:
    """``({"x", "f", "g"}, bounds and start)`` of the problem in CasADi SX."""
    import casadi as ca

    from adopt.problems import nlp

    p = nlp.luksan_vlcek1(size) if name == "luksan_vlcek1" else nlp.clnlbeam(size)
    Z = ca.SX.sym("z", p.n)
    if name == "luksan_vlcek1":
        a, b, c = Z[:-2], Z[1:-1], Z[2:]
        f = ca.sum1(100 * (Z[:-1] ** 2 - Z[1:]) ** 2 + (Z[:-1] - 1) ** 2)
        g = 3 * b ** 3 + 2 * c - 5 + ca.sin(b - c) * ca.sin(b + c) + 4 * b - a * ca.exp(a - b) - 3
    else:
        N, h, alpha = size, 1.0 / size, 350.0
        t, x, u = Z[:N + 1], Z[N + 1:2 * N + 2], Z[2 * N + 2:]
        f = ca.sum1(0.5 * h * (u[1:] ** 2 + u[:-1] ** 2) + 0.5 * alpha * h * (ca.cos(t[1:]) + ca.cos(t[:-1])))
        g = ca.vertcat(x[1:] - x[:-1] - 0.5 * h * (ca.sin(t[1:]) + ca.sin(t[:-1])),
                       t[1:] - t[:-1] - 0.5 * h * (u[1:] + u[:-1]))
    data = {"x0": p.x0, "lbx": p.lb, "ubx": p.ub, "lbg": p.cl, "ubg": p.cu}
    return {"x": Z, "f": f, "g": g}, data


def run_casadi(name: str, size: int, reps: int, tol: float = OPTIONS["tol"]) -> dict:
    import casadi as ca

    t0 = time.perf_counter()
    model, data = casadi_problem(name, size)
    opts = {f"ipopt.{k}": v for k, v in {**OPTIONS, "tol": tol}.items()}
    solver = ca.nlpsol("solver", "ipopt", model, {**opts, "print_time": False})
    setup = time.perf_counter() - t0
    times, stats, fun = [], None, None
    for _ in range(reps + 1):  # the first solve is the cold one: it is not counted
        t = time.perf_counter()
        r = solver(**data)
        times.append(time.perf_counter() - t)
        stats, fun = solver.stats(), float(r["f"])
    calls = {k: (stats[f"n_call_nlp_{k}"], stats[f"t_wall_nlp_{k}"])
             for k in ("f", "grad_f", "g", "jac_g", "hess_l")}
    return {"setup": setup, "cold": times[0], "warm": times[1:], "nit": stats["iter_count"],
            "status": stats["return_status"], "success": bool(stats["success"]), "fun": fun,
            "callbacks": calls}


# ---- adopt's side ----------------------------------------------------------------------------
class Timed:
    """The plugin object's callbacks, each timed (the problem_obj handed to cyipopt)."""

    NAMES = ("objective", "gradient", "constraints", "jacobian", "hessian")

    def __init__(self, d: Any) -> None:
        self.d, self.calls = d, {k: [0, 0.0] for k in self.NAMES}
        self.jacobianstructure, self.hessianstructure = d.jacobianstructure, d.hessianstructure
        for k in self.NAMES:
            setattr(self, k, self._timed(k, getattr(d, k)))

    def _timed(self, name: str, fn: Any) -> Any:
        slot = self.calls[name]

        def call(*a: Any) -> Any:
            t = time.perf_counter()
            out = fn(*a)
            slot[1] += time.perf_counter() - t
            slot[0] += 1
            return out

        return call


def run_adopt(name: str, size: int, reps: int, sync: bool, backend_name: str = "AutoJAX") -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)   # the benchmark is the user
    # JAX runs CPU computations on a worker thread by default; with IPOPT computing between
    # callbacks, each call waits for that thread to be scheduled (ms on a loaded machine)
    jax.config.update("jax_cpu_enable_async_dispatch", not sync)
    import cyipopt

    import adopt
    from adopt.problems import nlp
    from adopt.solvers.ipopt import NLPDerivatives, minimize_ipopt

    p = nlp.luksan_vlcek1(size) if name == "luksan_vlcek1" else nlp.clnlbeam(size)
    backend = adopt.AutoSparse(getattr(adopt, backend_name)())
    solve = lambda: minimize_ipopt(p.objective, p.x0, bounds=p.bounds(), constraints=p.nonlinear_constraints(),
                                   options=dict(OPTIONS), backend=backend)
    times, res = [], None
    for _ in range(reps + 1):
        t = time.perf_counter()
        res = solve()
        times.append(time.perf_counter() - t)
    d = NLPDerivatives(p.objective, p.x0, backend, constraints=p.nonlinear_constraints())
    timed = Timed(d)
    problem = cyipopt.Problem(n=d.n, m=d.m, problem_obj=timed, lb=p.lb, ub=p.ub, cl=d.cl, cu=d.cu)
    for k, v in OPTIONS.items():
        problem.add_option(k, v)
    t = time.perf_counter()
    _, info = problem.solve(d.x0)
    instrumented = time.perf_counter() - t
    return {"cold": times[0], "warm": times[1:], "nit": int(res.nit), "status": int(res.status),
            "success": bool(res.success), "fun": float(res.fun), "instrumented": instrumented,
            "instrumented_status": int(info["status"]),
            "callbacks": {k: tuple(v) for k, v in timed.calls.items()},
            "nnz_jac": int(d.jacobianstructure()[0].size), "nnz_hess": int(d.hessianstructure()[0].size),
            "counts": {k: int(getattr(res, k)) for k in ("nfev", "njev", "ncev", "nhev")}}


# ---- orchestration -----------------------------------------------------------------------------
def _child(variant: str, name: str, size: int, reps: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if "casadi-ipopt" in variant:
        env["LD_PRELOAD"] = _casadi_lib()
    cmd = [sys.executable, __file__, "--child", variant, name, str(size), str(reps)]
    for attempt in range(2):   # once more if it failed (a shared checkout can be mid-edit)
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode == 0 and lines:
            return json.loads(lines[-1])
        print(f"{variant} {name} {size} failed (attempt {attempt + 1}):\n{out.stderr[-2000:]}",
              file=sys.stderr, flush=True)
    raise RuntimeError(f"{variant} {name} {size} failed twice")


def _load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(cases: tuple, variants: tuple[str, ...]) -> list[dict]:
    rows = []
    for name, size, rounds, reps in cases:
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for r in range(rounds):
            order = variants if r % 2 == 0 else tuple(reversed(variants))
            for v in order:
                print(f"[{time.strftime('%H:%M:%S')}] {name} {size} round {r + 1}/{rounds}: {v} "
                      f"(load {_load()})", file=sys.stderr, flush=True)
                runs[v].append(_child(v, name, size, reps))
        rows.append({"problem": name, "size": size, "runs": runs, "load": _load()})
    return rows


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _per_point(run: dict, casadi: bool) -> dict[str, tuple[int, float]]:
    """Callback time grouped as IPOPT asks for it: the objective with its gradient, the
    constraints with their Jacobian, the Hessian; (calls, total seconds) each."""
    c = run["callbacks"]
    groups = ({"f+grad": ("f", "grad_f"), "g+jac": ("g", "jac_g"), "hess": ("hess_l",)} if casadi else
              {"f+grad": ("objective", "gradient"), "g+jac": ("constraints", "jacobian"), "hess": ("hessian",)})
    return {k: (c[names[0]][0], sum(c[n][1] for n in names)) for k, names in groups.items()}


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        for v, runs in row["runs"].items():
            casadi = v == "casadi"
            warm = _median([_median(r["warm"]) for r in runs])
            groups = [_per_point(r, casadi) for r in runs]
            cb = {k: _median([g[k][1] / max(g[k][0], 1) for g in groups]) for k in groups[0]}
            total_cb = _median([sum(t for _, t in g.values()) for g in groups])
            last = runs[-1]
            out.append({"problem": row["problem"], "size": row["size"], "variant": v,
                        "n": _n(row["problem"], row["size"]), "nit": last["nit"],
                        "status": last["status"], "fun": last["fun"], "solve_s": warm,
                        "cold_s": _median([r["cold"] for r in runs]),
                        "setup_s": _median([r.get("setup", 0.0) for r in runs]),
                        "callbacks_s": total_cb, "per_call_us": {k: 1e6 * t for k, t in cb.items()},
                        "load": row["load"]})
    return out


def _n(name: str, size: int) -> int:
    return size if name == "luksan_vlcek1" else 3 * (size + 1)


def markdown(summary: list[dict], argv: list[str]) -> str:
    import casadi
    import cyipopt
    import jax

    head = ["# IPOPT through adopt vs CasADi nlpsol (exact Hessian)", "",
            f"`python benchmarks/ipopt_casadi.py {' '.join(argv)}`, {time.strftime('%Y-%m-%d %H:%M')}; "
            f"CasADi {casadi.__version__}, cyipopt {cyipopt.__version__} (Ipopt "
            f"{'.'.join(map(str, cyipopt.IPOPT_VERSION))}), jax {jax.__version__}; 2 CPU cores shared "
            "with other jobs (load average 1/5/15 min at the end of each case in the last column). "
            "Options: tol 1e-8, mu_strategy adaptive, print_level 0; OPENBLAS_NUM_THREADS=1.", "",
            "Times are medians (seconds, or µs per call). `solve` = warm solve (adopt: preparation "
            "cached, as for a second solve; CasADi: nlpsol built); `cold` = first solve (adopt: "
            "preparation included); `setup` = CasADi's nlpsol construction. Callbacks per point: "
            "`f+grad` = objective and gradient at one point (adopt: one value_and_gradient, the "
            "gradient call is memoised; CasADi: nlp_f + nlp_grad_f), `g+jac` = constraints and "
            "Jacobian (adopt: one value_and_jacobian; CasADi: nlp_g + nlp_jac_g), `hess` = the "
            "Lagrangian Hessian, each per evaluated point (total time of the group / calls of its "
            "value callback); `callbacks s` = all derivative callbacks of one solve. Ratios are "
            "adopt / CasADi (`callback ratio` of the per-iteration callback time when the "
            "iteration counts differ).", ""]
    table = ["| problem | n | variant | Ipopt status | iters | f | solve s | ratio | ms/iter | cold s | "
             "setup s | callbacks s | f+grad µs | g+jac µs | hess µs | per-call ratio f+grad / g+jac / hess "
             "| callback ratio | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {(s["problem"], s["size"]): s for s in summary if s["variant"] == "casadi"}
    for s in summary:
        b = base.get((s["problem"], s["size"]))
        ratio = s["solve_s"] / b["solve_s"] if b else float("nan")
        cbr = (s["callbacks_s"] / max(s["nit"], 1)) / (b["callbacks_s"] / max(b["nit"], 1)) if b else float("nan")
        pc = s["per_call_us"]
        per = " / ".join(f"{pc[k] / b['per_call_us'][k]:.2f}" if b else "nan" for k in ("f+grad", "g+jac", "hess"))
        table.append(f"| {s['problem']} | {s['n']} | {s['variant']} | {s['status']} | {s['nit']} | "
                     f"{s['fun']:.10g} | {s['solve_s']:.3f} | {ratio:.2f} | "
                     f"{1e3 * s['solve_s'] / max(s['nit'], 1):.1f} | {s['cold_s']:.2f} | "
                     f"{s['setup_s']:.2f} | {s['callbacks_s']:.3f} | {pc['f+grad']:.0f} | "
                     f"{pc['g+jac']:.0f} | {pc['hess']:.0f} | {per} | {cbr:.2f} | {s['load']} |")
    return "\n".join(head + table) + "\n"


def reference() -> None:
    """f* for the catalogue's large problems: CasADi's exact derivatives, tol 1e-10."""
    from adopt.problems import nlp

    for name, size in (("luksan_vlcek1", 100), ("luksan_vlcek1", 10000), ("clnlbeam", 100),
                       ("clnlbeam", 3334)):
        r = run_casadi(name, size, reps=0, tol=1e-10)
        print(f'("{name}", {size}): {r["fun"]:.12e},  # {r["status"]}, {r["nit"]} iterations')
    del nlp


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        variant, name, size, reps = argv[1], argv[2], int(argv[3]), int(argv[4])
        result = (run_casadi(name, size, reps) if variant == "casadi"
                  else run_adopt(name, size, reps, sync=variant.endswith("+sync")))
        print(json.dumps(result))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.reference:
        reference()
        return 0
    rows = measure(QUICK if args.quick else CASES, VARIANTS)
    summary = summarise(rows)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "ipopt.md").write_text(markdown(summary, argv))
    (args.out_dir / "ipopt.json").write_text(json.dumps(rows, indent=1))
    print(markdown(summary, argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
