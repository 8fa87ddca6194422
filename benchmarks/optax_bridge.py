"""The PyTorch -> JAX/Optax bridge: what one objective evaluation costs through DifferentiateWith.

Per size ``n`` of a chained Rosenbrock objective written in PyTorch, timed interleaved in one
process (:func:`interleaved`: medians over alternating blocks, of wall time and of the process's
CPU time, which the other processes of a shared machine do not inflate):

- ``direct``: value and gradient by eager ``torch.autograd`` on a torch tensor, as a PyTorch user
  computes them;
- ``bridge``: ``jax.jit(jax.value_and_grad(DifferentiateWith(f, AutoTorch())))`` on a jax array:
  one evaluation as Optax's line search requests it;
- ``minimal``: the least any bridge through a JAX host callback can do: a jitted primitive whose
  host callback (``mlir.emit_python_callback``, NumPy in and out) copies ``x`` into a tensor,
  runs ``torch.autograd`` and returns NumPy views of value and gradient, with no checks, no
  caching and no generality;
- ``by_hand``: JAX's documented recipe (``jax.custom_vjp`` over ``jax.pure_callback``);
- ``floor``: a jitted JAX function whose host callback returns constants of the same shapes: the
  cost of leaving XLA for Python and back, which any bridge pays.

``added = bridge - direct`` is the overhead per evaluation (target: at most 50 µs);
``bridge - minimal`` is adopt's own share, ``minimal - direct`` what JAX's host callback costs
with real arrays going through it. At n = 200 the whole ``optax.lbfgs`` run of
``adopt.solvers.optax.minimize`` is also timed per evaluation, on the PyTorch objective (through
adopt, the minimal bridge and the recipe), and on the same objective in JAX (which prices the
optimizer's own work).

    python benchmarks/optax_bridge.py            # n = 10, 200, 10000; writes results/optax.md
    python benchmarks/optax_bridge.py --quick    # n = 10, 200, fewer blocks
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import environment, parser, setup_frameworks  # noqa: E402

TARGET_US = 50.0


def rosen_torch(x: Any) -> Any:
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def rosen_jax(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _floor(n: int) -> Callable[[Any], Any]:
    """A jitted function whose only work is a host callback returning a scalar and an n-vector."""
    import jax
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    out = (np.zeros(()), np.zeros(n))
    p = Primitive("bench_noop_callback")
    p.multiple_results = True
    p.def_abstract_eval(lambda x: [jax.core.ShapedArray((), x.dtype), jax.core.ShapedArray(x.shape, x.dtype)])
    mlir.register_lowering(p, lambda ctx, x: mlir.emit_python_callback(
        ctx, lambda a: out, None, [x], ctx.avals_in, ctx.avals_out, has_side_effect=False,
        returns_token=False)[0])
    return jax.jit(lambda x: p.bind(x))


def interleaved(fns: dict[str, Callable[[], Any]], blocks: int,
                min_time: float) -> dict[str, dict[str, float]]:
    """Time zero-argument functions in interleaved blocks (the order alternates): per function
    the median and minimum wall time per call and the median CPU time of the process per call
    (every thread: XLA's and torch's included), in µs."""
    calls = {}
    for k, fn in fns.items():
        fn()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < min_time:
            fn()
            n += 1
        calls[k] = max(n, 1)
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    gc.collect()
    gc.disable()
    try:
        for b in range(blocks):
            for k in (list(fns) if b % 2 == 0 else list(reversed(fns))):
                fn, c = fns[k], calls[k]
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(c):
                    fn()
                wall[k].append((time.perf_counter() - w0) / c * 1e6)
                cpu[k].append((time.process_time() - c0) / c * 1e6)
    finally:
        gc.enable()
    return {k: {"wall": float(np.median(wall[k])), "min": float(np.min(wall[k])),
                "cpu": float(np.median(cpu[k]))} for k in fns}


def evaluation_row(n: int, blocks: int, min_time: float) -> dict[str, Any]:
    import jax
    import torch

    import adopt

    x = np.linspace(-1.0, 1.0, n)
    xt, xj = torch.tensor(x), jax.numpy.asarray(x)

    def direct() -> Any:
        xg = xt.detach().requires_grad_(True)
        y = rosen_torch(xg)
        return y.detach(), torch.autograd.grad(y, xg)[0]

    bridged = jax.jit(jax.value_and_grad(adopt.DifferentiateWith(rosen_torch, adopt.AutoTorch())))
    minimal = jax.jit(jax.value_and_grad(minimal_bridge(rosen_torch)))
    by_hand = jax.jit(jax.value_and_grad(hand_written_bridge(rosen_torch)))
    floor = _floor(n)
    fns = {"direct": direct, "bridge": lambda: jax.block_until_ready(bridged(xj)),
           "minimal": lambda: jax.block_until_ready(minimal(xj)),
           "by_hand": lambda: jax.block_until_ready(by_hand(xj)),
           "floor": lambda: jax.block_until_ready(floor(xj))}
    y_d, g_d = direct()
    agree = True
    for k in ("bridge", "minimal", "by_hand"):
        y_b, g_b = fns[k]()
        agree &= bool(np.isclose(float(y_b), float(y_d), rtol=1e-12) and
                      np.allclose(np.asarray(g_b), g_d.numpy(), rtol=1e-12, atol=1e-12))
    t = interleaved(fns, blocks, min_time)
    return {"n": n, "agree": agree, **{k: v["wall"] for k, v in t.items()},
            **{f"{k}_min": v["min"] for k, v in t.items()},
            **{f"{k}_cpu": v["cpu"] for k, v in t.items()}}


def minimal_bridge(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The cheapest PyTorch objective inside JAX: one primitive whose host callback receives
    XLA's buffer as NumPy, copies it into a tensor (XLA's buffer is read-only), runs eager
    ``torch.autograd`` and hands back NumPy views of value and gradient; its JVP is ``g . t``
    (``jax.custom_jvp``). No checks, no caching, scalar ``fun`` only."""
    import jax
    import jax.numpy as jnp
    import torch
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    def host(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xg = torch.from_numpy(a.copy()).requires_grad_(True)
        y = fun(xg)
        (g,) = torch.autograd.grad(y, xg)
        return y.detach().numpy(), g.numpy()

    p = Primitive("bench_minimal_bridge")
    p.multiple_results = True
    p.def_abstract_eval(lambda x: [jax.core.ShapedArray((), x.dtype), jax.core.ShapedArray(x.shape, x.dtype)])
    mlir.register_lowering(p, lambda ctx, x: mlir.emit_python_callback(
        ctx, host, None, [x], ctx.avals_in, ctx.avals_out, has_side_effect=False,
        returns_token=False)[0])

    @jax.custom_jvp
    def f(x: Any) -> Any:
        return p.bind(x)[0]

    @f.defjvp
    def f_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        y, g = p.bind(primals[0])
        return y, jnp.vdot(g, tangents[0])

    return f


def hand_written_bridge(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """What a user writes without adopt (JAX's documented recipe): ``jax.custom_vjp`` over a
    ``jax.pure_callback`` that returns value and gradient from eager ``torch.autograd``."""
    import jax
    import torch

    def value_and_grad(x: Any) -> tuple[np.ndarray, np.ndarray]:
        xg = torch.from_numpy(np.array(x)).requires_grad_(True)
        y = fun(xg)
        (g,) = torch.autograd.grad(y, xg)
        return y.detach().numpy(), g.numpy()

    def both(x: Any) -> Any:
        shapes = (jax.ShapeDtypeStruct((), x.dtype), jax.ShapeDtypeStruct(x.shape, x.dtype))
        return jax.pure_callback(value_and_grad, shapes, x)

    @jax.custom_vjp
    def f(x: Any) -> Any:
        return both(x)[0]

    f.defvjp(lambda x: both(x), lambda g, ct: (ct * g,))
    return f


def _with_noop_callback(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fun`` plus a host callback that returns 0 (differentiable: its JVP is 0): the price of
    leaving XLA once per evaluation inside the optimizer loop, without any work on the host."""
    import jax
    import jax.numpy as jnp
    from jax.extend.core import Primitive
    from jax.interpreters import ad, mlir

    out = (np.zeros(()),)
    p = Primitive("bench_noop_in_loop")
    p.multiple_results = True
    p.def_abstract_eval(lambda x: [jax.core.ShapedArray((), x.dtype)])
    mlir.register_lowering(p, lambda ctx, x: mlir.emit_python_callback(
        ctx, lambda a: out, None, [x], ctx.avals_in, ctx.avals_out, has_side_effect=False,
        returns_token=False)[0])
    ad.primitive_jvps[p] = lambda primals, tangents: (p.bind(*primals), [jnp.zeros(())])
    return lambda x: fun(x) + p.bind(x)[0]


def loop_row(n: int, repeats: int) -> dict[str, Any]:
    """Whole L-BFGS runs of minimize per objective evaluation, interleaved: the PyTorch objective
    through adopt, the same objective in JAX, and in JAX plus a no-op host callback; and the
    direct PyTorch evaluation (value and gradient) of the same size."""
    import jax.numpy as jnp
    import optax
    import torch

    import adopt
    from adopt.solvers.optax import minimize

    x0 = np.tile([-1.2, 1.0], n // 2)
    lbfgs = optax.lbfgs()
    jax_noop = _with_noop_callback(rosen_jax)
    by_hand = hand_written_bridge(rosen_torch)
    minimal = minimal_bridge(rosen_torch)
    runs = {"torch": lambda: minimize(rosen_torch, torch.tensor(x0), backend=adopt.AutoTorch(),
                                      optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "minimal": lambda: minimize(minimal, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                        optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "by_hand": lambda: minimize(by_hand, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                        optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "jax": lambda: minimize(rosen_jax, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                    optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "jax_noop": lambda: minimize(jax_noop, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                         optimizer=lbfgs, maxiter=5000, tol=1e-8)}
    info = {k: run() for k, run in runs.items()}  # compile and prepare
    xt = torch.tensor(x0)

    def direct() -> Any:
        xg = xt.detach().requires_grad_(True)
        y = rosen_torch(xg)
        return y.detach(), torch.autograd.grad(y, xg)[0]

    nfev = {k: res.nfev for k, res in info.items()}
    runs["direct"], nfev["direct"] = (lambda: [direct() for _ in range(info["torch"].nfev)]), \
        info["torch"].nfev
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(repeats):
        for k in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            w0, c0 = time.perf_counter(), time.process_time()
            runs[k]()
            wall[k].append((time.perf_counter() - w0) / nfev[k] * 1e6)
            cpu[k].append((time.process_time() - c0) / nfev[k] * 1e6)
    return {"n": n, **{f"{k}_us": float(np.median(v)) for k, v in wall.items()},
            **{f"{k}_cpu": float(np.median(v)) for k, v in cpu.items()},
            **{f"{k}_nfev": info[k].nfev for k in info}, **{f"{k}_nit": info[k].nit for k in info},
            "success": all(res.success for res in info.values())}


def _evaluation_table(rows: Sequence[dict[str, Any]], metric: str) -> list[str]:
    """One line per size; ``metric`` is ``""`` (wall time) or ``"_cpu"`` (CPU time)."""
    lines = ["| n | direct µs | adopt bridge µs | minimal bridge µs | recipe µs | no-op callback µs "
             "| added by adopt µs | ≤ 50 µs | JAX's callback (minimal - direct) µs "
             "| adopt's own (adopt - minimal) µs | agree |",
             "|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|:---:|"]
    for r in rows:
        v = {k: r[k + metric] for k in ("direct", "bridge", "minimal", "by_hand", "floor")}
        added = v["bridge"] - v["direct"]
        lines.append(
            f"| {r['n']} | {v['direct']:.1f} | {v['bridge']:.1f} | {v['minimal']:.1f} | "
            f"{v['by_hand']:.1f} | {v['floor']:.1f} | {added:.1f} | "
            f"{'yes' if added <= TARGET_US else 'no'} | {v['minimal'] - v['direct']:.1f} | "
            f"{v['bridge'] - v['minimal']:.1f} | {r['agree']} |")
    return lines


def _loop_table(loop: dict[str, Any]) -> list[str]:
    lines = ["| time | PyTorch via adopt µs/eval | PyTorch, minimal bridge | PyTorch, recipe | JAX "
             "objective | JAX + no-op callback | direct PyTorch | added by adopt | added by "
             "minimal | added by recipe | adopt - minimal |",
             "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, metric in (("wall", "_us"), ("CPU", "_cpu")):
        v = {k: loop[k + metric] for k in ("torch", "minimal", "by_hand", "jax", "jax_noop", "direct")}
        base = v["jax"] + v["direct"]
        lines.append(
            f"| {name} | {v['torch']:.1f} | {v['minimal']:.1f} | {v['by_hand']:.1f} | "
            f"{v['jax']:.1f} | {v['jax_noop']:.1f} | {v['direct']:.1f} | {v['torch'] - base:.1f} | "
            f"{v['minimal'] - base:.1f} | {v['by_hand'] - base:.1f} | "
            f"{v['torch'] - v['minimal']:.1f} |")
    return lines


def _markdown(rows: Sequence[dict[str, Any]], loop: dict[str, Any] | None, env: str,
              load: tuple[float, float]) -> str:
    lines = ["# PyTorch objective through the JAX/Optax bridge: cost per evaluation", "", env, "",
             f"Load average (1 min) before / after the run: {load[0]:.1f} / {load[1]:.1f} on "
             f"{os.cpu_count()} CPUs shared with other processes: wall times are inflated by the "
             "waits for a core; CPU times (the process's, all its threads) much less so, and are "
             "the ones to compare with the target. Compare within a row (the columns were timed "
             "interleaved).", "",
             "## One evaluation (value and gradient) from JAX", "", "### CPU time", "",
             *_evaluation_table(rows, "_cpu"), "", "### Wall time", "",
             *_evaluation_table(rows, ""), "",
             "- direct: eager `torch.autograd` value and gradient of a torch tensor, called from "
             "Python; adopt bridge: `jax.jit(jax.value_and_grad(DifferentiateWith(f, "
             "AutoTorch())))` on a jax array; minimal bridge: the least a bridge through a JAX "
             "host callback can do (`minimal_bridge`: one `emit_python_callback` primitive, copy "
             "in, `torch.autograd`, NumPy views out, no checks); recipe: `jax.custom_vjp` + "
             "`jax.pure_callback` calling torch.autograd (JAX's documented recipe, what a user "
             "writes without adopt); no-op callback: a jitted host callback that returns "
             "constants (XLA -> Python -> XLA, no work). Medians of interleaved blocks.",
             "- added by adopt = adopt bridge - direct; it splits into JAX's host callback with "
             "real arrays (minimal - direct: jit dispatch, XLA -> NumPy -> torch and back, JAX's "
             "checks of the results) and adopt's own share (adopt - minimal: the prepared "
             "operator and the node's dispatch). These are differences of medians: a negative "
             "value is noise."]
    if loop is not None:
        lines += ["", f"## Inside `minimize(..., optimizer=optax.lbfgs())`, chained Rosenbrock "
                  f"n = {loop['n']} from (-1.2, 1, ...)", "", *_loop_table(loop), "",
                  f"- nfev adopt / minimal / recipe / JAX: {loop['torch_nfev']} / "
                  f"{loop['minimal_nfev']} / {loop['by_hand_nfev']} / {loop['jax_nfev']}; all "
                  f"converged: {loop['success']}.",
                  "- Whole runs (compiled and prepared beforehand), medians over interleaved "
                  "repeats, divided by the run's objective evaluations (line-search trials "
                  "included); direct = as many direct evaluations. The JAX column is the "
                  "optimizer's own work per evaluation (objective fused into the loop by XLA); the "
                  "no-op column adds one host callback per evaluation that does nothing.",
                  "- added = run - JAX run - direct PyTorch evaluation: what bridging adds to each "
                  "evaluation in a real run. Inside the jitted `lax.while_loop` XLA runs the host "
                  "callbacks on its worker threads, not the caller's, and its idle workers spin "
                  "for work (CPU time) or wait for a core (wall time); any bridge pays that: "
                  "compare adopt with the minimal bridge."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("PyTorch objective through the JAX/Optax bridge")
    p.add_argument("--no-loop", action="store_true", help="skip the whole-run L-BFGS timing")
    args = p.parse_args(argv)
    setup_frameworks()
    sizes = args.sizes or ((10, 200) if args.quick else (10, 200, 10_000))
    blocks = args.blocks or (5 if args.quick else 9)
    min_time = args.min_time if args.min_time is not None else (0.01 if args.quick else 0.05)
    load0 = os.getloadavg()[0]
    rows = []
    for n in sizes:
        print(f"evaluation n={n}", file=sys.stderr, flush=True)
        rows.append(evaluation_row(n, blocks, min_time))
    loop = None
    if not args.no_loop:
        print("L-BFGS runs n=200", file=sys.stderr, flush=True)
        loop = loop_row(200, 3 if args.quick else 5)
    text = _markdown(rows, loop, environment(), (load0, os.getloadavg()[0]))
    out = args.out_dir / "optax.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written: {out}")
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
