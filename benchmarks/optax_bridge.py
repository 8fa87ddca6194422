"""The PyTorch -> JAX/Optax bridge: what one objective evaluation costs through DifferentiateWith.

Per size ``n`` of a chained Rosenbrock objective written in PyTorch, timed interleaved in one
process (``adopt._bench.measure_all``: medians over alternating blocks):

- ``direct``: value and gradient by eager ``torch.autograd`` on a torch tensor, as a PyTorch user
  computes them;
- ``bridge``: ``jax.jit(jax.value_and_grad(DifferentiateWith(f, AutoTorch())))`` on a jax array:
  one evaluation as Optax's line search requests it;
- ``floor``: a jitted JAX function whose host callback returns constants of the same shapes: the
  cost of leaving XLA for Python and back, which any bridge pays.

``added = bridge - direct`` is the overhead per evaluation (target: at most 50 µs); ``added -
floor`` is adopt's own share. At n = 200 the whole ``optax.lbfgs`` run of
``adopt.solvers.optax.minimize`` is also timed per evaluation, on the PyTorch objective and on
the same objective in JAX (which prices the optimizer's own work).

    python benchmarks/optax_bridge.py            # n = 10, 200, 10000; writes results/optax.md
    python benchmarks/optax_bridge.py --quick    # n = 10, 200, fewer blocks
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import environment, measure_all, parser, setup_frameworks  # noqa: E402

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
    by_hand = jax.jit(jax.value_and_grad(hand_written_bridge(rosen_torch)))
    floor = _floor(n)
    fns = {"direct": direct, "bridge": lambda: jax.block_until_ready(bridged(xj)),
           "by_hand": lambda: jax.block_until_ready(by_hand(xj)),
           "floor": lambda: jax.block_until_ready(floor(xj))}
    y_b, g_b = fns["bridge"]()
    y_d, g_d = direct()
    agree = bool(np.isclose(float(y_b), float(y_d), rtol=1e-12) and
                 np.allclose(np.asarray(g_b), g_d.numpy(), rtol=1e-12, atol=1e-12))
    t = dict(zip(fns, measure_all(list(fns.values()), blocks=blocks, min_time=min_time)))
    return {"n": n, "agree": agree, **{k: v.median * 1e6 for k, v in t.items()},
            **{f"{k}_min": v.min * 1e6 for k, v in t.items()}}


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


def loop_row(n: int, repeats: int, blocks: int, min_time: float) -> dict[str, Any]:
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
    runs = {"torch": lambda: minimize(rosen_torch, torch.tensor(x0), backend=adopt.AutoTorch(),
                                      optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "by_hand": lambda: minimize(by_hand, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                        optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "jax": lambda: minimize(rosen_jax, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                    optimizer=lbfgs, maxiter=5000, tol=1e-8),
            "jax_noop": lambda: minimize(jax_noop, jnp.asarray(x0), backend=adopt.AutoJAX(),
                                         optimizer=lbfgs, maxiter=5000, tol=1e-8)}
    per_eval: dict[str, list[float]] = {k: [] for k in runs}
    info = {k: run() for k, run in runs.items()}  # compile and prepare
    for r in range(repeats):
        for k in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            t0 = time.perf_counter()
            res = runs[k]()
            per_eval[k].append((time.perf_counter() - t0) / res.nfev * 1e6)
    xt = torch.tensor(x0)

    def direct() -> Any:
        xg = xt.detach().requires_grad_(True)
        y = rosen_torch(xg)
        return y.detach(), torch.autograd.grad(y, xg)[0]

    (t_direct,) = measure_all([direct], blocks=blocks, min_time=min_time)
    return {"n": n, **{f"{k}_us": float(np.median(v)) for k, v in per_eval.items()},
            **{f"{k}_nfev": info[k].nfev for k in runs}, **{f"{k}_nit": info[k].nit for k in runs},
            "direct_us": t_direct.median * 1e6,
            "success": all(res.success for res in info.values())}


def _markdown(rows: Sequence[dict[str, Any]], loop: dict[str, Any] | None, env: str,
              load: tuple[float, float]) -> str:
    lines = ["# PyTorch objective through the JAX/Optax bridge: cost per evaluation", "", env, "",
             f"Load average (1 min) before / after the run: {load[0]:.1f} / {load[1]:.1f} on "
             f"{os.cpu_count()} CPUs shared with other processes: every time below is inflated "
             "by the other processes; compare within a row (the columns were timed interleaved).",
             "", "## One evaluation (value and gradient) from JAX", "",
             "| n | direct µs | adopt bridge µs | added µs | ≤ 50 µs | hand-written bridge µs | "
             "JAX callback floor µs | min: direct / adopt / by hand / floor µs | agree |",
             "|---:|---:|---:|---:|:---:|---:|---:|---:|:---:|"]
    for r in rows:
        added = r["bridge"] - r["direct"]
        lines.append(
            f"| {r['n']} | {r['direct']:.1f} | {r['bridge']:.1f} | {added:.1f} | "
            f"{'yes' if added <= TARGET_US else 'no'} | {r['by_hand']:.1f} | {r['floor']:.1f} | "
            f"{r['direct_min']:.1f} / {r['bridge_min']:.1f} / {r['by_hand_min']:.1f} / "
            f"{r['floor_min']:.1f} | {r['agree']} |")
    lines += ["", "- direct: eager `torch.autograd` value and gradient of a torch tensor, called "
              "from Python; adopt bridge: `jax.jit(jax.value_and_grad(DifferentiateWith(f, "
              "AutoTorch())))` on a jax array; hand-written bridge: the same through "
              "`jax.custom_vjp` + `jax.pure_callback` calling torch.autograd (JAX's documented "
              "recipe, what a user writes without adopt); floor: a jitted host callback that "
              "returns constants (XLA -> Python -> XLA, no work). Medians of interleaved blocks; "
              "`min` is the fastest block.",
              "- added = adopt bridge - direct (includes JAX's dispatch of the jitted call and the "
              "callback floor)."]
    if loop is not None:
        added = loop["torch_us"] - loop["jax_us"] - loop["direct_us"]
        by_hand = loop["by_hand_us"] - loop["jax_us"] - loop["direct_us"]
        floor = loop["jax_noop_us"] - loop["jax_us"]
        lines += ["", "## Inside `minimize(..., optimizer=optax.lbfgs())`, chained Rosenbrock from "
                  "(-1.2, 1, ...)", "",
                  "| n | PyTorch via adopt µs/eval | PyTorch by hand µs/eval | JAX objective µs/eval "
                  "| JAX + no-op callback µs/eval | direct PyTorch µs/eval | added by adopt µs/eval "
                  "| added by hand µs/eval | callback floor µs/eval | nfev adopt / by hand / jax "
                  "| converged |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
                  f"| {loop['n']} | {loop['torch_us']:.1f} | {loop['by_hand_us']:.1f} | "
                  f"{loop['jax_us']:.1f} | {loop['jax_noop_us']:.1f} | {loop['direct_us']:.1f} | "
                  f"{added:.1f} | {by_hand:.1f} | {floor:.1f} | {loop['torch_nfev']} / "
                  f"{loop['by_hand_nfev']} / {loop['jax_nfev']} | {loop['success']} |", "",
                  "- Wall time of whole runs (compiled and prepared beforehand), medians over "
                  "interleaved repeats, divided by the run's objective evaluations (line-search "
                  "trials included). The JAX column is the optimizer's own work per evaluation "
                  "(objective fused into the loop by XLA); the no-op column adds one host callback "
                  "per evaluation that does nothing.",
                  "- added = run - JAX run - direct PyTorch evaluation: what bridging adds to each "
                  "evaluation in a real run; callback floor = no-op run - JAX run."]
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
        loop = loop_row(200, 3 if args.quick else 5, blocks, min_time)
    text = _markdown(rows, loop, environment(), (load0, os.getloadavg()[0]))
    out = args.out_dir / "optax.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written: {out}")
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
