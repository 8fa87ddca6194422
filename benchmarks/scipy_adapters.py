"""SciPy adapter benchmarks: whole solves through adopt.solvers.scipy against the routes people
write by hand (jitted JAX recipes, torch.autograd wrappers) and SciPy's own difference routes.

Every case times complete solves from the same start, after one warm-up solve of each variant
(so adopt's preparation is cached, as it is for a user's second solve; the cold first solve is
reported separately), in interleaved rounds; the table gives medians and the ratio of each
variant to the case's reference. The solutions are checked to agree.

    python benchmarks/scipy_adapters.py            # all cases (about 10 minutes on 2 cores)
    python benchmarks/scipy_adapters.py --quick    # fewer rounds, no dense-difference Brusselator
Writes benchmarks/results/scipy.csv and scipy.md.
"""

from __future__ import annotations

import os

# One BLAS thread: on 2 CPUs shared with other processes, OpenBLAS's spinning threads make a
# 1e5-vector dot 200x slower (16 ms instead of 76 us), which would swamp every solve here.
# Set before NumPy loads; an explicit OPENBLAS_NUM_THREADS in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import scipy.integrate as si  # noqa: E402
import scipy.optimize as so  # noqa: E402
import scipy.sparse as sp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Variant:
    label: str
    solve: Callable[[], Any]            # one complete solve; returns (solution, counts dict)
    target: str = "peer"                # what adopt's variant should reach against the reference
    bound: float | None = None          # the target as an upper bound on the ratio, if it is one
    beats: str | None = None            # or: the label of a peer variant it must be faster than


@dataclass
class Row:
    case: str
    variant: str
    wall_s: float                       # median wall-clock time of a solve
    cpu_s: float                        # median CPU time of the process (all its threads)
    best_s: float                       # fastest wall-clock solve
    cold_s: float
    ratio: float                        # wall / reference wall (medians)
    cpu_ratio: float                    # cpu / reference cpu (medians)
    best_ratio: float                   # best wall / reference best wall
    counts: str
    agrees: bool
    target: str
    met: str                            # the bound against the CPU and the wall-clock ratio
    load: float                         # 1-minute load average when the case started


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(result, wall seconds, CPU seconds)`` of one call, the garbage collector held off."""
    gc.collect()
    gc.disable()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - t0, time.process_time() - c0
    finally:
        gc.enable()


def _met(bound: float | None, cpu_ratio: float, ratio: float) -> str:
    if bound is None:
        return ""
    return f"cpu {'yes' if cpu_ratio <= bound else 'NO'}, wall {'yes' if ratio <= bound else 'NO'}"


def _beats(cpu: float, wall: float, peer_cpu: float, peer_wall: float) -> str:
    return f"cpu {'yes' if cpu < peer_cpu else 'NO'}, wall {'yes' if wall < peer_wall else 'NO'}"


def run_case(case: str, variants: list[Variant], rounds: int,
             agree: Callable[[Any, Any], bool]) -> list[Row]:
    """Warm each variant once, then ``rounds`` interleaved rounds (the order reversed every other
    round, so that drifts hit every variant alike); the first variant is the reference.

    Both clocks are kept: the wall clock is what a user waits, and on this shared machine it
    includes the time the process waits for a CPU; the CPU time of the process (every thread:
    JAX's dispatch threads included) is the work a route does, and is what load does not move.
    """
    load = os.getloadavg()[0]
    cold, outs = {}, {}
    for v in variants:
        outs[v.label], cold[v.label], _ = _timed(v.solve)
    wall: dict[str, list[float]] = {v.label: [] for v in variants}
    cpu: dict[str, list[float]] = {v.label: [] for v in variants}
    for r in range(rounds):
        for v in (variants if r % 2 == 0 else variants[::-1]):
            _, w, c = _timed(v.solve)
            wall[v.label].append(w)
            cpu[v.label].append(c)
    ref = variants[0].label
    med = {k: statistics.median(t) for k, t in wall.items()}
    mcpu = {k: statistics.median(t) for k, t in cpu.items()}
    best = {k: min(t) for k, t in wall.items()}
    rows = []
    for v in variants:
        sol, counts = outs[v.label]
        k = v.label
        met = (_met(v.bound, mcpu[k] / mcpu[ref], med[k] / med[ref]) if v.beats is None
               else _beats(mcpu[k], med[k], mcpu[v.beats], med[v.beats]))
        row = Row(case, k, med[k], mcpu[k], best[k], cold[k], med[k] / med[ref], mcpu[k] / mcpu[ref],
                  best[k] / best[ref], ", ".join(f"{name} {c}" for name, c in counts.items()),
                  agree(sol, outs[ref][0]), v.target if k != ref else "reference",
                  met if k != ref else "", load)
        rows.append(row)
        print(f"{case:<42} {k:<44} wall {med[k]*1e3:9.1f} ms x{row.ratio:6.3f}  cpu {mcpu[k]*1e3:9.1f} ms "
              f"x{row.cpu_ratio:6.3f}  best x{row.best_ratio:6.3f}  {row.counts}  {row.met}",
              file=sys.stderr, flush=True)
    return rows


# ---- minimize: extended Rosenbrock, n = 1000 -----------------------------------------------
def rosenbrock_cases(rounds: int) -> list[Row]:
    import jax
    import jax.numpy as jnp
    import torch

    import adopt
    from adopt.solvers.scipy import minimize

    n = 1000
    x0 = np.tile([-1.2, 1.0], n // 2)

    def f_jax(x):
        a, b = x[0::2], x[1::2]
        return jnp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)

    def f_torch(x):
        a, b = x[0::2], x[1::2]
        return (100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2).sum()

    vg = jax.jit(jax.value_and_grad(f_jax))
    hvp = jax.jit(lambda x, p: jax.jvp(jax.grad(f_jax), (x,), (p,))[1])

    def jax_recipe(method):
        def fun(x):
            v, g = vg(x)
            return float(v), np.asarray(g)
        kw = {"hessp": lambda x, p: np.asarray(hvp(x, p.astype(float)))} if method != "L-BFGS-B" else {}
        res = so.minimize(fun, x0, jac=True, method=method, **kw)
        return res.x, {"nfev": res.nfev, "nhev": res.get("nhev", 0)}

    def torch_wrapper(method):
        """torch.autograd per call, the way torchmin / autograd-minimize style wrappers do."""
        def fun(x):
            xt = torch.from_numpy(x).requires_grad_(True)
            y = f_torch(xt)
            (g,) = torch.autograd.grad(y, xt)
            return y.item(), g.numpy()

        def hessp(x, p):
            xt = torch.from_numpy(x).requires_grad_(True)
            (g,) = torch.autograd.grad(f_torch(xt), xt, create_graph=True)
            (hp,) = torch.autograd.grad(g, xt, torch.from_numpy(p.astype(float)))
            return hp.numpy()

        kw = {"hessp": hessp} if method != "L-BFGS-B" else {}
        res = so.minimize(fun, x0, jac=True, method=method, **kw)
        return res.x, {"nfev": res.nfev, "nhev": res.get("nhev", 0)}

    def functional_wrapper(method):
        """autograd-minimize style: a fresh tensor per call, torch.autograd.functional.hvp."""
        def fun(x):
            xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            y = f_torch(xt)
            (g,) = torch.autograd.grad(y, xt)
            return y.detach().numpy().astype(np.float64), g.detach().numpy().astype(np.float64)

        def hessp(x, p):
            xt, pt = torch.tensor(x, dtype=torch.float64), torch.tensor(p, dtype=torch.float64)
            return torch.autograd.functional.hvp(f_torch, xt, pt)[1].numpy()

        kw = {"hessp": hessp} if method != "L-BFGS-B" else {}
        res = so.minimize(fun, x0, jac=True, method=method, **kw)
        return res.x, {"nfev": res.nfev, "nhev": res.get("nhev", 0)}

    def ours(f, backend, method):
        res = minimize(f, x0, method=method, backend=backend)
        return res.x, {"nfev": res.nfev, "njev": res.njev, "nhev": res.nhev}

    rows = []
    close = lambda a, b: bool(np.allclose(a, b, atol=1e-4))  # noqa: E731
    for method in ("L-BFGS-B", "Newton-CG", "trust-krylov"):
        rows += run_case(f"minimize rosenbrock n=1000 {method} (JAX)", [
            Variant("jax.jit(value_and_grad)/jit(jvp(grad))", lambda m=method: jax_recipe(m)),
            Variant("adopt AutoJAX()", lambda m=method: ours(f_jax, adopt.AutoJAX(), m), "<= 1.05", 1.05)],
            rounds, close)
        rows += run_case(f"minimize rosenbrock n=1000 {method} (torch)", [
            Variant("torch.autograd per call (minimal)", lambda m=method: torch_wrapper(m)),
            Variant("adopt AutoTorch()", lambda m=method: ours(f_torch, adopt.AutoTorch(), m),
                    "< the autograd-minimize style's", beats=FUNCTIONAL),
            Variant(FUNCTIONAL, lambda m=method: functional_wrapper(m))],
            rounds, close)
    return rows


FUNCTIONAL = "torch.autograd.functional (autograd-minimize style)"


# ---- least_squares: Broyden tridiagonal, n = 1e4, 1e5 ---------------------------------------
def broyden_tridiagonal(x):
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    z = xp.zeros(1, dtype=x.dtype)
    return (3.0 - 2.0 * x) * x - xp.concat([z, x[:-1]]) - 2.0 * xp.concat([x[1:], z]) + 1.0


def least_squares_cases(rounds: int, sizes: tuple[int, ...]) -> list[Row]:
    import adopt
    from adopt.solvers.scipy import least_squares

    rows = []
    for n in sizes:
        x0 = -np.ones(n)
        pattern = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")

        def scipy_fd():
            res = so.least_squares(broyden_tridiagonal, x0, jac="2-point", jac_sparsity=pattern)
            return res.x, {"nfev": res.nfev, "njev": res.njev}

        def scipy_fd_arrays():   # what adopt hands SciPy: no np.resize of scalar bounds / x_scale
            res = so.least_squares(broyden_tridiagonal, x0, jac="2-point", jac_sparsity=pattern,
                                   bounds=(np.full(n, -np.inf), np.full(n, np.inf)), x_scale=np.ones(n))
            return res.x, {"nfev": res.nfev, "njev": res.njev}

        def ours():
            res = least_squares(broyden_tridiagonal, x0, backend=adopt.AutoSparse(adopt.AutoJAX()))
            return res.x, {"nfev": res.nfev, "njev": res.njev}

        rows += run_case(f"least_squares broyden tridiagonal n={n}", [
            Variant('scipy "2-point" + jac_sparsity', scipy_fd),
            Variant("adopt AutoSparse(AutoJAX())", ours, "<= 0.45", 0.45),
            Variant('scipy "2-point" + jac_sparsity, bounds and x_scale as arrays', scipy_fd_arrays)],
            rounds, lambda a, b: bool(np.allclose(a, b, atol=1e-6)))
    return rows


# ---- solve_ivp: stiff 2-D Brusselator, N = 32 -----------------------------------------------
def brusselator(N: int):
    """The 2-D Brusselator (Hairer & Wanner II, A = 3.4, B = 1) on the periodic unit square,
    diffusion 10 / dx², written once for NumPy, JAX and PyTorch (no forcing)."""
    from array_api_compat import array_namespace

    A, B, alpha = 3.4, 1.0, 10.0 * N**2

    def f(t, y):
        xp = array_namespace(y)
        u, v = xp.reshape(y[: N * N], (N, N)), xp.reshape(y[N * N:], (N, N))

        def lap(w):
            return (xp.roll(w, 1, axis=0) + xp.roll(w, -1, axis=0) + xp.roll(w, 1, axis=1)
                    + xp.roll(w, -1, axis=1) - 4 * w)

        du = B + u**2 * v - (A + 1) * u + alpha * lap(u)
        dv = A * u - u**2 * v + alpha * lap(v)
        return xp.concat([xp.reshape(du, (-1,)), xp.reshape(dv, (-1,))])

    n = N * N
    idx = np.arange(n).reshape(N, N)
    nb = [np.roll(idx, s, a).ravel() for s, a in ((1, 0), (-1, 0), (1, 1), (-1, 1))]
    L = sp.csr_matrix((np.ones(4 * n), (np.tile(np.arange(n), 4), np.concatenate(nb))), shape=(n, n))
    L = alpha * (L - 4 * sp.eye(n))           # built once: the diffusion part is constant

    def jac(t, y):
        u, v = y[:n], y[n:]
        return sp.bmat([[sp.diags(2 * u * v - (A + 1)) + L, sp.diags(u**2)],
                        [sp.diags(A - 2 * u * v), sp.diags(-(u**2)) + L]], format="csc")

    x = np.arange(N) / N
    X, Y = np.meshgrid(x, x, indexing="ij")
    y0 = np.concatenate([(22 * Y * (1 - Y) ** 1.5).ravel(), (27 * X * (1 - X) ** 1.5).ravel()])
    return f, jac, y0


def brusselator_cases(rounds: int, sparse_routes: bool, dense_fd: bool) -> list[Row]:
    import adopt
    from adopt.solvers.scipy import solve_ivp

    N, span, tol = 32, (0.0, 1.5), dict(rtol=1e-6, atol=1e-6)
    f, jac, y0 = brusselator(N)
    pattern = jac(0.0, y0) != 0

    def scipy_run(**kw):
        def solve():
            sol = si.solve_ivp(f, span, y0, method="BDF", **tol, **kw)
            return sol.y[:, -1], {"nfev": sol.nfev, "njev": sol.njev, "nlu": sol.nlu}
        return solve

    def ours():
        sol = solve_ivp(f, span, y0, method="BDF", backend=adopt.AutoSparse(adopt.AutoJAX()), **tol)
        return sol.y[:, -1], {"nfev": sol.nfev, "njev": sol.njev, "nlu": sol.nlu}

    agree = lambda a, b: bool(np.allclose(a, b, rtol=1e-3, atol=1e-3))  # noqa: E731
    variants = [Variant("hand-written sparse jac", scipy_run(jac=jac)),
                Variant("adopt AutoSparse(AutoJAX())", ours, "<= 1.05, and < jac_sparsity's", 1.05),
                Variant("scipy jac_sparsity differencing", scipy_run(jac_sparsity=pattern)),
                Variant("hand-written sparse jac, again (noise control)", scipy_run(jac=jac))]
    rows = run_case("solve_ivp BDF brusselator N=32", variants, rounds, agree) if sparse_routes else []
    if dense_fd:
        rows += run_case("solve_ivp BDF brusselator N=32 (no jac)", [
            Variant("scipy no jac (dense differencing)", scipy_run()),
            Variant("adopt AutoSparse(AutoJAX())", ours, "<= 1/16", 1 / 16)], max(1, rounds // 3), agree)
    return rows


# ---- newton_krylov: 2-D Bratu, 64 x 64, lambda = 6 -----------------------------------------
def bratu_cases(rounds: int) -> list[Row]:
    import jax

    import adopt
    from adopt.problems import problem
    from adopt.solvers.scipy import newton_krylov
    from scipy.optimize._nonlin import nonlin_solve

    p = problem("bratu2d/64/6.0")
    calls = []

    def counted(u):
        calls.append(1)
        return p.fun(u)

    def scipy_nk():
        calls.clear()
        x = so.newton_krylov(counted, p.x0, f_tol=1e-10)
        return x, {"nfev (F runs)": len(calls)}

    jvp = jax.jit(lambda x, v: jax.jvp(p.fun, (x,), (v,))[1])
    fun = jax.jit(p.fun)

    class JitJVP(so.KrylovJacobian):
        """What a JAX user writes by hand: SciPy's Krylov Jacobian with a jitted JVP."""

        def matvec(self, v):
            return np.asarray(jvp(self.x0, v))

    def by_hand():
        x, info = nonlin_solve(lambda u: np.asarray(fun(u)), p.x0, JitJVP(), f_tol=1e-10,
                               full_output=True)
        return x, {"nit": info["nit"]}

    def ours(linearize=False, backend=adopt.AutoJAX()):
        res = newton_krylov(p.fun, p.x0, f_tol=1e-10, linearize=linearize, backend=backend)
        return res.x, {"nfev": res.nfev, "njev": res.njev, "F runs": res.nfev + res.njev,
                       "njvp": res.njvp, "nit": res.nit}

    sparse = adopt.AutoSparse(adopt.AutoJAX())
    return run_case("newton_krylov bratu 64x64 lambda=6", [
        Variant("scipy newton_krylov (differences)", scipy_nk),
        Variant("adopt newton_krylov AutoSparse(AutoJAX())", lambda: ours(None, sparse),
                "<= 0.70, fewer F runs", 0.70),
        Variant("adopt newton_krylov AutoJAX()", ours),
        Variant("KrylovJacobian + jax.jit(jvp) by hand", by_hand),
        Variant("adopt newton_krylov AutoJAX(), linearize=True", lambda: ours(True))], rounds,
        lambda a, b: bool(np.allclose(a, b, atol=1e-8)))


# ---- where the time goes: each route's own work against SciPy's shared machinery ------------
class Meter:
    """CPU seconds spent inside the callables it wraps (a nested call counts once)."""

    def __init__(self) -> None:
        self.seconds, self._depth = 0.0, 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def metered(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            c0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - c0
                self._depth -= 1

        return metered


@dataclass
class Split:
    case: str
    route: str
    total_s: float                      # median CPU time of a solve
    own_s: float                        # median CPU time inside the route's own callables
    own: str                            # what they are
    floor: str = ""                     # adopt's ratio if its own work cost nothing


def _split_case(case: str, routes: list[tuple[str, str, Callable[[Meter], Any]]], rounds: int) -> list[Split]:
    """``routes``: (label, what is metered, solve(meter)); the first is the reference. Every
    route's solve wraps its own callables with the meter; the rest of its CPU time is SciPy's."""
    totals: dict[str, list[float]] = {r[0]: [] for r in routes}
    owns: dict[str, list[float]] = {r[0]: [] for r in routes}
    for _, _, solve in routes:
        solve(Meter())                                          # warm-up (preparation)
    for i in range(rounds):
        for label, _, solve in (routes if i % 2 == 0 else routes[::-1]):
            m = Meter()
            _, _, cpu = _timed(lambda: solve(m))
            totals[label].append(cpu)
            owns[label].append(m.seconds)
    out = [Split(case, label, statistics.median(totals[label]), statistics.median(owns[label]), what)
           for label, what, _ in routes]
    ref = out[0].total_s
    for sp_ in out[1:]:
        if sp_.route.startswith("adopt"):
            sp_.floor = f"{(sp_.total_s - sp_.own_s) / ref:.3f}"
    for sp_ in out:
        print(f"split {case:<36} {sp_.route:<44} cpu {sp_.total_s*1e3:8.1f} ms  own {sp_.own_s*1e3:8.1f} "
              f"ms  shared {(sp_.total_s - sp_.own_s)*1e3:8.1f} ms  {sp_.floor}", file=sys.stderr, flush=True)
    return out


def split_cases(rounds: int, ls_sizes: tuple[int, ...], brusselator_routes: bool, nojac: bool,
                bratu: bool) -> list[Split]:
    """The decompositions quoted in the notes: route-specific CPU time (F, Jacobians, products)
    and the rest, SciPy's own work. adopt's routes here are the plugin objects inside the same
    SciPy call the adapters make (an adapter is a bundle plus that call)."""
    import scipy.optimize._differentiable_functions as vector_function

    import adopt
    from adopt.solvers import Derivatives, ODEDerivatives

    out: list[Split] = []
    for n in ls_sizes:
        x0 = -np.ones(n)
        pattern = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")
        differences = vector_function.approx_derivative

        def ls_fd(m: Meter) -> Any:
            vector_function.approx_derivative = m.wrap(differences)    # SciPy's sparse differencing
            try:
                return so.least_squares(m.wrap(broyden_tridiagonal), x0, jac="2-point", jac_sparsity=pattern)
            finally:
                vector_function.approx_derivative = differences

        def ls_adopt(m: Meter) -> Any:
            d = Derivatives(broyden_tridiagonal, x0, adopt.AutoSparse(adopt.AutoJAX()), vector=True)
            return so.least_squares(m.wrap(d.fun), d.x0, jac=m.wrap(d.jac))

        out += _split_case(f"least_squares broyden n={n}", [
            ('scipy "2-point" + jac_sparsity', "F and the differenced Jacobians", ls_fd),
            ("adopt AutoSparse(AutoJAX())", "bundle fun and jac", ls_adopt)], rounds)

    N, span, tol = 32, (0.0, 1.5), dict(rtol=1e-6, atol=1e-6)
    f, jac, y0 = brusselator(N)
    bdf = lambda m, fun, **kw: si.solve_ivp(m.wrap(fun), span, y0, method="BDF", **tol, **kw)  # noqa: E731

    def bru_adopt(m: Meter) -> Any:
        d = ODEDerivatives(f, y0, adopt.AutoSparse(adopt.AutoJAX()))
        return bdf(m, d.fun, jac=m.wrap(d.jac))

    routes = [("hand-written sparse jac", "F and jac", lambda m: bdf(m, f, jac=m.wrap(jac))),
              ("adopt AutoSparse(AutoJAX())", "bundle fun and jac", bru_adopt)]
    if brusselator_routes:
        out += _split_case("solve_ivp BDF brusselator N=32", routes, rounds)
    if nojac:
        out += _split_case("solve_ivp BDF brusselator N=32 (no jac)", [
            ("scipy no jac (dense differencing)", "F (with the differencing calls)", lambda m: bdf(m, f)),
            routes[1]], max(1, rounds // 3))
    if bratu:
        out += _split_bratu(rounds)
    return out


def _split_bratu(rounds: int) -> list[Split]:
    import jax
    from scipy.optimize._nonlin import nonlin_solve

    import adopt
    from adopt.problems import problem
    from adopt.solvers import Derivatives
    from adopt.solvers.scipy import ExactKrylovJacobian

    p = problem("bratu2d/64/6.0")
    jvp, fun = jax.jit(lambda x, v: jax.jvp(p.fun, (x,), (v,))[1]), jax.jit(p.fun)

    def metered_products(cls: type, m: Meter) -> type:
        class Metered(cls):
            def matvec(self, v):
                return m.wrap(super().matvec)(v)

        return Metered

    class JitJVP(so.KrylovJacobian):
        def matvec(self, v):
            return np.asarray(jvp(self.x0, v))

    def nk(m: Meter, F: Callable[..., Any], jacobian: Any) -> Any:
        return nonlin_solve(m.wrap(F), p.x0, jacobian, f_tol=1e-10)

    def nk_adopt(m: Meter) -> Any:
        d = Derivatives(p.fun, p.x0, adopt.AutoJAX(), vector=True)
        return nk(m, d.fun, metered_products(ExactKrylovJacobian, m)(d))

    return _split_case("newton_krylov bratu 64x64 lambda=6", [
        ("scipy newton_krylov (differences)", "F and the difference products",
         lambda m: nk(m, p.fun, metered_products(so.KrylovJacobian, m)())),
        ("adopt newton_krylov AutoJAX()", "bundle fun and exact products", nk_adopt),
        ("KrylovJacobian + jax.jit(jvp) by hand", "jitted F and products",
         lambda m: nk(m, lambda u: np.asarray(fun(u)), metered_products(JitJVP, m)()))], rounds)


#: how the table is made
NOTES = [
    "OPENBLAS_NUM_THREADS=1 (see the top of the script). Interleaved rounds after one warm-up "
    "solve per variant, the order reversed every other round; medians. 2 CPUs shared with other "
    "processes: the load column is the 1-minute load average when the case started.",
    "wall: median wall-clock time of a solve; CPU: median CPU time of the process during the "
    "solve (every thread: JAX's dispatch and compute threads included), which waiting for a CPU "
    "does not inflate (contention for caches and memory still does); best wall: the fastest "
    "solve. Each ratio divides by the reference's (first row of the case) same statistic. "
    "met: the target bound against the CPU and the wall-clock ratio.",
    "first solve: the warm-up solve, including adopt's preparation (tracing, compilation, "
    "sparsity detection) and the baselines' jit compilation.",
]

#: where the time goes, from profiles and the --split decomposition of these cases on this
#: machine (adopt as of issue 8, session 2); the figures move by +-15 % between runs at a load of 10-17
ANALYSIS = [
    "Noise: the last full run (29 Nov 2026, 17:24-17:30 UTC) had the machine to itself (load "
    "average 0.7-1.1, wall within 10 % of CPU); the 'again (noise control)' row, the reference "
    "route timed a second time, came out at 1.01x, but single cases still move by 5-8 % between "
    "runs. The least_squares and solve_ivp cases were re-run on 29 Nov 2026, 19:03-19:07 UTC "
    "(--only least_squares,brusselator,brusselator_nojac --split, load 0.3-1.0).",
    "minimize, JAX: adopt runs the same jitted value_and_grad / HVP as the hand-written recipe, "
    "with the same counts; its per-call layer (prep check, conversion, memo) is a few us on "
    "calls of 70-200 us: 1.05 / 0.99 / 1.05x in CPU time (0.94 / 0.95 / 1.08x wall).",
    "minimize, torch: adopt and the minimal wrapper do the same eager autograd per evaluation "
    "(value and gradient: one forward, one backward; an HVP: forward, backward with graph, "
    "double backward), so the minimal wrapper is the floor and adopt's per-call layer "
    "(1-18 %) is the difference; against the wrappers people use (autograd-minimize style, "
    "torch.autograd.functional.hvp) adopt is 0.98x on L-BFGS-B (1.034 vs 1.050 of the minimal "
    "wrapper) and 0.70x / 0.82x on Newton-CG / trust-krylov. "
    "A same-point HVP (gradient graph kept, only the double backward per product) measured "
    "642 us against 1062 us per product, but re-preparing it at each new point costs 1003 us, "
    "more than it saves at SciPy's 2-3.5 products per point.",
    "least_squares: SciPy's least_squares expands scalar bounds and x_scale with np.resize, "
    "which builds a tuple of n one-element copies: 2.5 ms per call at n = 1e4 and three calls per "
    "solve, 28 % of the reference solve at 1e4 and 36 % at 1e5 (the 'as arrays' row: SciPy's own "
    "route with bounds=(np.full(n, -inf), np.full(n, inf)) and x_scale=np.ones(n), the same "
    "problem). adopt hands SciPy arrays of x0's shape (solvers/scipy/_least_squares.py), so "
    "it meets 0.45 at both sizes (0.397, 0.314); against that faster SciPy route it is 0.55x "
    "and 0.49x. --split: adopt's own work is 8.0 ms (n = 1e4) and 31 ms (1e5) against 62 ms "
    "and 518 ms for SciPy's grouped differences.",
    "solve_ivp Brusselator: adopt's sparse Jacobians had int64 indices, which SuperLU converts "
    "at every factorisation (an LU of I - cJ took 21.5 ms instead of 15.3): that was the 8 % "
    "'spread' of the shared BDF + SuperLU part in earlier runs. With SciPy's int32 indices "
    "adopt is 1.017x the hand-written sparse Jacobian in CPU time (0.993x wall; target 1.05: "
    "met) and level with jac_sparsity differencing (0.979x CPU, 0.979x wall; that route makes "
    "465 f calls to the exact routes' 499, its differenced Jacobians steering Newton slightly "
    "differently). --split: own work 158 ms (adopt: 499 jitted f calls, ~130 us of CPU each "
    "with JAX's asynchronous CPU dispatch, and 2 sparse Jacobians) vs 166 ms (hand-written: "
    "NumPy f ~260 us, bmat Jacobians 2.4 ms); BDF + SuperLU take 1.0-1.16 s of every route. "
    "Against dense differencing (no jac) adopt is 13.7x faster (0.073; 15.8x in the split "
    "run, 1124 vs 17765 ms): 16x would need the whole route under 1.10 s, where SciPy's "
    "BDF + SuperLU alone take 1.0-1.16 s: not reached.",
    "newton_krylov Bratu: with AutoSparse(AutoJAX()) the linearisation is the sparse Jacobian "
    "(5 colors since the default Jacobian orders include DSATUR, 7 before), once per Newton "
    "point, and the 195 products are scipy.sparse matvecs: 0.585x SciPy's difference route in "
    "CPU time (0.566 wall; 0.61 with 7 colors; target 0.70: met), 13 F-equivalent evaluations "
    "instead of 239 (re-run 29 Nov 2026, 21:40 UTC, --only bratu, load 1.2). "
    "With AutoJAX alone each product is one compiled JVP: 1.07-1.08x, where a hand-written "
    "jax.jit(jvp) route is 0.84-0.92x: nonlin_solve + LGMRES take 56-69 ms in every route (0.53-0.65 "
    "of the reference), and a jitted call on JAX's CPU client costs ~100-200 us of CPU even for "
    "this small F (NumPy's F: ~160 us), so no per-product JAX route reaches 0.70 here; with "
    "jax_cpu_enable_async_dispatch=False (the user's setting; --jax-cpu-sync) a product costs "
    "~80 us and AutoJAX alone gave 0.80 in an earlier run.",
    "newton_krylov with linearize=True on AutoJAX: the same-point pushforward prep costs more "
    "than a plain prepared pushforward per product (its result is sliced out of the stacked "
    "batch, and x is compared to the preparation point), so the default there is one prepared "
    "pushforward per product (1.25x vs 1.07x).",
]


def environment() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import environment as env

    return env()


COLUMNS = ["case", "variant", "wall_s", "cpu_s", "best_s", "cold_s", "ratio", "cpu_ratio",
           "best_ratio", "counts", "agrees", "target", "met", "load"]


def _merged(name: str, columns: list[str], rows: list[Any]) -> list[dict[str, str]]:
    """Write ``rows`` to ``name`` after the rows of the cases they do not cover (kept from the
    file), and return the whole table."""
    path = RESULTS / name
    fresh = [{c: _cell(getattr(r, c)) for c in columns} for r in rows]
    old = []
    if path.exists():
        with path.open(newline="") as fh:
            old = [r for r in csv.DictReader(fh) if set(columns) <= set(r)]
    ran = {r["case"] for r in fresh}
    table = [{c: r[c] for c in columns} for r in old if r["case"] not in ran] + fresh
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        w.writerows(table)
    return table


def _cell(v: Any) -> str:
    return f"{v:.6f}" if isinstance(v, float) else str(v)


SPLIT_COLUMNS = ["case", "route", "total_s", "own_s", "own", "floor"]


def _split_lines(split: list[dict[str, str]]) -> list[str]:
    if not split:
        return []
    ms = lambda r, c: f"{float(r[c]) * 1e3:.1f}"  # noqa: E731
    lines = ["", "## Where the time goes (`--split`)", "",
             "CPU time per solve, medians: the route's own work (its callables, metered) and the "
             "rest, SciPy's own machinery (trf + LSMR, BDF + SuperLU, nonlin_solve + LGMRES). "
             "floor: adopt's CPU ratio to the reference if adopt's own work cost nothing.", "",
             "| case | route | CPU (ms) | own (ms) | own work | SciPy's (ms) | floor |",
             "|---|---|---|---|---|---|---|"]
    for r in split:
        shared = (float(r["total_s"]) - float(r["own_s"])) * 1e3
        lines.append(f"| {r['case']} | {r['route']} | {ms(r, 'total_s')} | {ms(r, 'own_s')} | "
                     f"{r['own']} | {shared:.1f} | {r['floor']} |")
    return lines


def write(rows: list[Row], notes: list[str], splits: list[Split] = ()) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = _merged("scipy.csv", COLUMNS, rows)
    split = _merged("scipy.split.csv", SPLIT_COLUMNS, list(splits))
    ms = lambda r, c: f"{float(r[c]) * 1e3:.1f}"  # noqa: E731
    lines = ["# SciPy adapter benchmarks", "", environment(), "",
             "| case | variant | wall (ms) | CPU (ms) | × ref wall | × ref CPU | × ref best wall | "
             "first solve (ms) | counts | agrees | target | met | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['case']} | {r['variant']} | {ms(r, 'wall_s')} | {ms(r, 'cpu_s')} | "
                     f"{float(r['ratio']):.3f} | {float(r['cpu_ratio']):.3f} | "
                     f"{float(r['best_ratio']):.3f} | {ms(r, 'cold_s')} | {r['counts']} | "
                     f"{r['agrees']} | {r['target']} | {r['met']} | {float(r['load']):.1f} |")
    lines += _split_lines(split) + ["", "## Notes", ""] + [f"- {n}" for n in notes]
    (RESULTS / "scipy.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds, no dense-difference Brusselator")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only", default=None, help="comma list of: rosenbrock,least_squares,brusselator,"
                    "brusselator_nojac,bratu (the other cases' rows are kept from scipy.csv)")
    ap.add_argument("--jax-cpu-sync", action="store_true",
                    help="run JAX's CPU dispatch synchronously (jax_cpu_enable_async_dispatch=False, "
                    "the user's choice); the cases are labelled so")
    ap.add_argument("--split", action="store_true",
                    help="also meter each route's own work against SciPy's (scipy.split.csv)")
    ap.add_argument("--write-only", action="store_true",
                    help="run nothing: rewrite scipy.md from scipy.csv and the notes here")
    args = ap.parse_args(argv)
    if args.write_only:
        import jax
        import torch  # noqa: F401  (the environment line names the versions of the last run's stack)

        jax.config.update("jax_enable_x64", True)
        write([], NOTES + ANALYSIS)
        return 0
    import jax

    jax.config.update("jax_enable_x64", True)     # the benchmark is the user: adopt never flips it
    if args.jax_cpu_sync:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    rounds = args.rounds or (3 if args.quick else 7)
    everything = {"rosenbrock", "least_squares", "brusselator", "brusselator_nojac", "bratu"}
    only = set(args.only.split(",")) if args.only else everything - ({"brusselator_nojac"} if args.quick else set())
    rows: list[Row] = []
    load0 = os.getloadavg()[0]
    if "rosenbrock" in only:
        rows += rosenbrock_cases(rounds)
    if "least_squares" in only:
        rows += least_squares_cases(rounds, (10_000,) if args.quick else (10_000, 100_000))
    if only & {"brusselator", "brusselator_nojac"}:
        rows += brusselator_cases(rounds, "brusselator" in only, "brusselator_nojac" in only)
    if "bratu" in only:
        rows += bratu_cases(rounds)
    ls = ((10_000,) if args.quick else (10_000, 100_000)) if "least_squares" in only else ()
    splits = split_cases(rounds, ls, "brusselator" in only, "brusselator_nojac" in only,
                         "bratu" in only) if args.split else []
    if args.jax_cpu_sync:
        for r in [*rows, *splits]:
            r.case += " [JAX CPU dispatch synchronous]"
    notes = [f"Last run: {rounds} rounds, load average {load0:.1f} at its start and "
             f"{os.getloadavg()[0]:.1f} at its end."]
    write(rows, notes + NOTES + ANALYSIS, splits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
