"""Sparse benchmarks: Brusselator Jacobians and banded / chained Hessians against the peers.

For each problem and size, one process measures, for adopt and each peer: preparation time
(detection, coloring, compilation and the first call, from a fresh function object), the
prepared call time (interleaved medians), the number of colors, and the ratio of the prepared
call to the primal ``f`` of the same framework. Peers: asdex (JAX), sparsejac (JAX, pattern
given), SciPy ``approx_derivative`` with ``sparsity``, CasADi (symbolic, SX), and each
framework's dense ``jacfwd`` / ``hessian`` where it fits in memory.

    python benchmarks/sparse.py            # N = 16, 32, 64, 128; Hessians n = 1000, 10000, 100000
    python benchmarks/sparse.py --quick    # N = 16, 32; Hessians n = 1000
    python benchmarks/sparse.py --only torch   # re-run the torch rows, keep the others
Writes benchmarks/results/sparse.csv and sparse.md (the sections after the table are kept).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import RESULTS_DIR as RESULTS  # noqa: E402
from _harness import environment, measure_all, stderr_progress  # noqa: E402

import adopt  # noqa: E402
from adopt.problems import brusselator_residual  # noqa: E402


@dataclass
class Row:
    problem: str
    n: int
    tool: str
    colors: int | None
    prep_s: float | None
    call_us: float
    primal_us: float
    note: str = ""

    @property
    def ratio_to_primal(self) -> float:
        return self.call_us / self.primal_us


# ---- the Brusselator right-hand side ------------------------------------------------------------
# adopt.problems.brusselator_residual(N) is written once against the array API: a fresh function
# object per call, the same on NumPy, JAX and PyTorch. CasADi's symbolic SX needs its own copy.
def _casadi_brusselator(N: int) -> tuple[Callable, Callable]:
    import casadi as ca

    n = 2 * N * N
    x = ca.SX.sym("x", n)
    idx = np.arange(N * N).reshape(N, N)
    u, v = x[: N * N], x[N * N:]

    def lap(w: Any) -> Any:
        out = -4 * w
        for s, a in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
            out = out + w[np.roll(idx, s, a).ravel().tolist()]
        return out

    du = 1.0 + u**2 * v - 4.4 * u + 10.0 * lap(u)
    dv = 3.4 * u - u**2 * v + 10.0 * lap(v)
    y = ca.vertcat(du, dv)
    F = ca.Function("f", [x], [y])
    J = ca.Function("J", [x], [ca.jacobian(y, x)])
    return F, J


# ---- timing helpers -----------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _block(out: Any) -> Any:
    if hasattr(out, "block_until_ready"):
        return out.block_until_ready()
    if hasattr(out, "data") and hasattr(out.data, "block_until_ready"):
        out.data.block_until_ready()
    return out


def _us(t: Any) -> float:
    return t.median * 1e6


# ---- Jacobians ------------------------------------------------------------------------------
def jax_jacobian_rows(N: int, args: argparse.Namespace) -> list[Row]:
    import asdex
    import jax
    import jax.numpy as jnp
    import sparsejac

    n = 2 * N * N
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, n))
    problem = "brusselator jacobian"
    primal = jax.jit(brusselator_residual(N))
    _block(primal(x))

    f1 = brusselator_residual(N)
    b = adopt.AutoSparse(adopt.AutoJAX())
    prep, t_prep = _timed(lambda: adopt.prepare_jacobian(f1, b, x))
    ours = lambda: _block(adopt.jacobian(f1, b, x, prep=prep))  # noqa: E731

    f2 = brusselator_residual(N)

    def asdex_prepare() -> Any:
        coloring = asdex.jacobian_coloring(f2, x)
        fn = jax.jit(asdex.jacobian_from_coloring(f2, coloring))
        _block(fn(x))
        return coloring, fn

    (acol, afn), t_asdex = _timed(asdex_prepare)
    theirs = lambda: _block(afn(x))  # noqa: E731

    f3 = brusselator_residual(N)
    P = adopt.sparsity_pattern(prep).tocoo()
    from jax.experimental import sparse as jsparse

    def sparsejac_prepare() -> Any:
        pat = jsparse.BCOO((jnp.ones(P.nnz), jnp.stack([jnp.asarray(P.row), jnp.asarray(P.col)], 1)), shape=P.shape)
        fn = jax.jit(sparsejac.jacfwd(f3, sparsity=pat))
        _block(fn(x))
        return fn

    sjfn, t_sj = _timed(sparsejac_prepare)
    sj = lambda: _block(sjfn(x))  # noqa: E731
    fns = [ours, theirs, sj, lambda: _block(primal(x))]
    dense_fn = None
    if n <= args.dense_limit:
        dense_fn, t_dense = _timed(lambda: jax.jit(jax.jacfwd(brusselator_residual(N))))
        _, t_dense2 = _timed(lambda: _block(dense_fn(x)))
        fns.append(lambda: _block(dense_fn(x)))
    times = measure_all(fns, blocks=args.blocks, min_time=args.min_time)
    p_us = _us(times[3])
    _check(_csr(adopt.jacobian(f1, b, x, prep=prep)), _csr(afn(x)), "asdex")
    rows = [
        Row(problem, n, "adopt AutoSparse(AutoJAX())", adopt.ncolors(prep), t_prep, _us(times[0]), p_us),
        Row(problem, n, "asdex", int(acol.num_colors) if hasattr(acol, "num_colors") else None, t_asdex, _us(times[1]), p_us),
        Row(problem, n, "sparsejac (pattern given)", None, t_sj, _us(times[2]), p_us, "pattern from adopt; no detection"),
    ]
    if dense_fn is not None:
        rows.append(Row(problem, n, "jax.jit(jax.jacfwd) dense", n, t_dense + t_dense2, _us(times[4]), p_us))
    return rows


def torch_jacobian_rows(N: int, args: argparse.Namespace) -> list[Row]:
    import torch

    n = 2 * N * N
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 1, n))
    f = brusselator_residual(N)
    b = adopt.AutoSparse(adopt.AutoTorch())
    prep, t_prep = _timed(lambda: adopt.prepare_jacobian(f, b, x))
    fns = [lambda: adopt.jacobian(f, b, x, prep=prep), lambda: f(x)]
    rows_extra = []
    if n <= args.dense_limit:
        jf = torch.func.jacfwd(f)
        _, t_d = _timed(lambda: jf(x))
        fns.append(lambda: jf(x))
    times = measure_all(fns, blocks=args.blocks, min_time=args.min_time)
    p_us = _us(times[1])
    rows = [Row("brusselator jacobian", n, "adopt AutoSparse(AutoTorch())", adopt.ncolors(prep), t_prep, _us(times[0]), p_us)]
    if len(times) > 2:
        rows_extra.append(Row("brusselator jacobian", n, "torch.func.jacfwd dense", n, t_d, _us(times[2]), p_us))
    return rows + rows_extra


def numpy_jacobian_rows(N: int, args: argparse.Namespace) -> list[Row]:
    from scipy.optimize._numdiff import approx_derivative

    n = 2 * N * N
    x = np.random.default_rng(0).uniform(0, 1, n)
    f = brusselator_residual(N)
    rows = []
    for method, scipy_method in (("forward", "2-point"), ("central", "3-point")):
        b = adopt.AutoSparse(adopt.AutoFiniteDiff(method=method))
        prep, t_prep = _timed(lambda: adopt.prepare_jacobian(f, b, x))
        P = adopt.sparsity_pattern(prep)

        def scipy_prepare() -> Any:
            from scipy.optimize._numdiff import group_columns

            return group_columns(P)

        groups, t_sc = _timed(scipy_prepare)
        times = measure_all([
            lambda: adopt.jacobian(f, b, x, prep=prep),
            lambda: approx_derivative(f, x, method=scipy_method, sparsity=(P, groups)),
            lambda: f(x),
        ], blocks=args.blocks, min_time=args.min_time)
        p_us = _us(times[2])
        rows += [
            Row("brusselator jacobian", n, f"adopt AutoSparse(AutoFiniteDiff({method!r}))", adopt.ncolors(prep), t_prep, _us(times[0]), p_us),
            Row("brusselator jacobian", n, f"scipy approx_derivative {scipy_method} sparsity", int(groups.max()) + 1, t_sc, _us(times[1]), p_us, "pattern from adopt; grouping by SciPy"),
        ]
    return rows


def casadi_jacobian_rows(N: int, args: argparse.Namespace) -> list[Row]:
    n = 2 * N * N
    x = np.random.default_rng(0).uniform(0, 1, n)
    (F, J), t_prep = _timed(lambda: _casadi_brusselator(N))
    times = measure_all([lambda: J(x), lambda: F(x)], blocks=args.blocks, min_time=args.min_time)
    return [Row("brusselator jacobian", n, "casadi SX jacobian", None, t_prep, _us(times[0]), _us(times[1]), "symbolic; ratio to casadi's own primal")]


# ---- Hessians ---------------------------------------------------------------------------------
def _chained_rosenbrock(xp: Any) -> Callable:
    def f(x: Any) -> Any:
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return f


def _banded_cubes(xp: Any) -> Callable:
    def f(x: Any) -> Any:
        return xp.sum((x[2:] - x[:-2]) ** 3) + xp.sum(x[1:] * x[:-1] ** 2) + xp.sum(xp.exp(x))

    return f


HESSIANS = {"chained rosenbrock hessian": _chained_rosenbrock, "banded hessian": _banded_cubes}


def jax_hessian_rows(name: str, n: int, args: argparse.Namespace) -> list[Row]:
    import asdex
    import jax
    import jax.numpy as jnp

    make = HESSIANS[name]
    x = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.5, n))
    primal = jax.jit(make(jnp))
    _block(primal(x))
    rows, fns = [], []
    for sym in ("star", "acyclic"):
        f = make(jnp)
        b = adopt.AutoSparse(adopt.AutoJAX(), coloring=adopt.GreedyColoring(symmetric=sym))
        prep, t = _timed(lambda: adopt.prepare_hessian(f, b, x))
        rows.append(Row(name, n, f"adopt AutoSparse(AutoJAX()) {sym}", adopt.ncolors(prep), t, 0.0, 0.0))
        fns.append(lambda f=f, b=b, prep=prep: _block(adopt.hessian(f, b, x, prep=prep)))
    fa = make(jnp)

    def asdex_prepare() -> Any:
        coloring = asdex.hessian_coloring(fa, x)
        fn = jax.jit(asdex.hessian_from_coloring(fa, coloring))
        _block(fn(x))
        return coloring, fn

    (acol, afn), t_a = _timed(asdex_prepare)
    rows.append(Row(name, n, "asdex", int(acol.num_colors) if hasattr(acol, "num_colors") else None, t_a, 0.0, 0.0))
    fns.append(lambda: _block(afn(x)))
    if n <= args.dense_limit:
        hf = jax.jit(jax.hessian(make(jnp)))
        _, t_d = _timed(lambda: _block(hf(x)))
        rows.append(Row(name, n, "jax.jit(jax.hessian) dense", n, t_d, 0.0, 0.0))
        fns.append(lambda: _block(hf(x)))
    fns.append(lambda: _block(primal(x)))
    times = measure_all(fns, blocks=args.blocks, min_time=args.min_time)
    p_us = _us(times[-1])
    for row, t in zip(rows, times):
        row.call_us, row.primal_us = _us(t), p_us
    return rows


def torch_hessian_rows(name: str, n: int, args: argparse.Namespace) -> list[Row]:
    import torch

    make = HESSIANS[name]
    x = torch.from_numpy(np.random.default_rng(1).uniform(0.5, 1.5, n))
    f = make(torch)
    b = adopt.AutoSparse(adopt.AutoTorch())
    prep, t = _timed(lambda: adopt.prepare_hessian(f, b, x))
    k = adopt.ncolors(prep)
    rows = [Row(name, n, "adopt AutoSparse(AutoTorch()) star", k, t, 0.0, 0.0)]
    fns = [lambda: adopt.hessian(f, b, x, prep=prep)]
    # the bare framework: torch.func's own batched forward-over-reverse HVPs over the same seeds
    S = torch.from_numpy((adopt.column_colors(prep) == np.arange(k)[:, None]).astype(np.float64))
    hvps = torch.func.vmap(lambda t: torch.func.jvp(torch.func.grad(f), (x,), (t,))[1])
    _, t_f = _timed(lambda: hvps(S))
    rows.append(Row(name, n, "torch.func vmap(jvp(grad)) same seeds", k, t_f, 0.0, 0.0,
                    "compressed HVPs only, no decompression"))
    fns.append(lambda: hvps(S))
    if n <= args.dense_limit:
        hf = torch.func.hessian(f)
        H, t_d = _timed(lambda: hf(x))
        _check(adopt.hessian(f, b, x, prep=prep).to_dense().numpy(), H.numpy(), "torch.func.hessian")
        rows.append(Row(name, n, "torch.func.hessian dense", n, t_d, 0.0, 0.0))
        fns.append(lambda: hf(x))
    fns.append(lambda: f(x))
    times = measure_all(fns, blocks=args.blocks, min_time=args.min_time)
    for row, tm in zip(rows, times):
        row.call_us, row.primal_us = _us(tm), _us(times[-1])
    return rows


def casadi_hessian_rows(name: str, n: int, args: argparse.Namespace) -> list[Row]:
    import casadi as ca

    x = np.random.default_rng(1).uniform(0.5, 1.5, n)

    def build() -> tuple[Any, Any]:
        xs = ca.SX.sym("x", n)
        xp = type("xp", (), {"sum": staticmethod(ca.sum1), "exp": staticmethod(ca.exp)})
        y = HESSIANS[name](xp)(xs)
        return ca.Function("f", [xs], [y]), ca.Function("H", [xs], [ca.hessian(y, xs)[0]])

    (F, H), t = _timed(build)
    times = measure_all([lambda: H(x), lambda: F(x)], blocks=args.blocks, min_time=args.min_time)
    return [Row(name, n, "casadi SX hessian", None, t, _us(times[0]), _us(times[1]), "symbolic; ratio to casadi's own primal")]


def _csr(J: Any) -> sp.csr_array:
    """A JAX BCOO as a SciPy CSR, never densified (n = 32768 would need 8.6 GB)."""
    return sp.csr_array((np.asarray(J.data), (np.asarray(J.indices[:, 0]), np.asarray(J.indices[:, 1]))),
                        shape=J.shape)


def _check(a: Any, b: Any, who: str) -> None:
    if sp.issparse(a):
        d = abs(a - b)
        if d.nnz and d.max() > 1e-10 * max(abs(b).max(), 1.0):
            raise AssertionError(f"adopt and {who} disagree")
        return
    if not np.allclose(a, b, rtol=1e-10, atol=1e-12):
        raise AssertionError(f"adopt and {who} disagree")


# ---- driver ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> list[Row]:
    import jax

    jax.config.update("jax_enable_x64", True)  # the benchmark is the user
    rows: list[Row] = []
    for N in args.grid:
        for label, fn in (("jax", jax_jacobian_rows), ("torch", torch_jacobian_rows),
                          ("numpy", numpy_jacobian_rows), ("casadi", casadi_jacobian_rows)):
            if label in args.only:
                stderr_progress(f"brusselator N={N} ({label}) ...")
                rows += fn(N, args)
    for name in HESSIANS:
        for n in args.hessian_sizes:
            for label, fn in (("jax", jax_hessian_rows), ("torch", torch_hessian_rows),
                              ("casadi", casadi_hessian_rows)):
                if label in args.only:
                    stderr_progress(f"{name} n={n} ({label}) ...")
                    rows += fn(name, n, args)
    return rows


def merged(rows: Sequence[Row], out: Path) -> list[Row]:
    """The rows of the previous sparse.csv in ``out`` with ``rows`` in place of those of the same
    problem, size and tool (a new one goes after the row that precedes it in ``rows``)."""
    try:
        with open(out / "sparse.csv", newline="") as fh:
            old = [Row(r["problem"], int(r["n"]), r["tool"], int(r["colors"]) if r["colors"] else None,
                       float(r["prep_s"]) if r["prep_s"] else None, float(r["call_us"]),
                       float(r["primal_us"]), r["note"]) for r in csv.DictReader(fh)]
    except FileNotFoundError:
        return list(rows)
    key = lambda r: (r.problem, r.n, r.tool)  # noqa: E731
    new = {key(r): r for r in rows}
    result = [new.pop(key(r), r) for r in old]
    for before, r in zip([None, *rows], rows):
        if key(r) in new:
            at = next((i for i, o in enumerate(result) if before is not None and key(o) == key(before)), len(result) - 1)
            result.insert(at + 1, r)
    return result


def write(rows: Sequence[Row], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    header = ["problem", "n", "tool", "colors", "prep_s", "call_us", "primal_us", "ratio_to_primal", "note"]
    with open(out / "sparse.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([r.problem, r.n, r.tool, r.colors, f"{r.prep_s:.4f}" if r.prep_s is not None else "",
                        f"{r.call_us:.2f}", f"{r.primal_us:.2f}", f"{r.ratio_to_primal:.2f}", r.note])
    lines = ["# adopt sparse benchmarks", "", environment(), "",
             "| problem | n | tool | colors | preparation (s) | prepared call (µs) | × primal | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.problem} | {r.n} | {r.tool} | {r.colors if r.colors is not None else ''} | "
                     f"{r.prep_s:.3f} | {r.call_us:.1f} | {r.ratio_to_primal:.2f} | {r.note} |")
    text = "\n".join(lines) + "\n"
    previous = (out / "sparse.md").read_text() if (out / "sparse.md").exists() else ""
    tail = previous.find("\n## ")  # the sections written after the table, kept
    (out / "sparse.md").write_text(text + (previous[tail:] if tail >= 0 else ""))
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 16, 32 and Hessians at n = 1000")
    p.add_argument("--grid", type=lambda s: tuple(int(v) for v in s.split(",")), default=None,
                   metavar="N,N", help="Brusselator grid sizes (default 16,32,64,128)")
    p.add_argument("--hessian-sizes", type=lambda s: tuple(int(v) for v in s.split(",")), default=None)
    p.add_argument("--dense-limit", type=int, default=2048, help="largest n for dense baselines")
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.02)
    p.add_argument("--only", type=lambda s: tuple(s.split(",")), default=("jax", "torch", "numpy", "casadi"),
                   metavar="FW,FW", help="frameworks to run (jax, torch, numpy, casadi); the other "
                   "rows of the previous results are kept")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.grid = args.grid or ((16, 32) if args.quick else (16, 32, 64, 128))
    args.hessian_sizes = args.hessian_sizes or ((1000,) if args.quick else (1000, 10000, 100000))
    warnings.simplefilter("ignore", UserWarning)
    rows = run(args)
    print(write(merged(rows, args.out) if len(args.only) < 4 else rows, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
