"""The timing figures behind design choices in adopt's code, re-measured.

Comments and docstrings in ``adopt/`` justified choices with figures ("~10 us per call",
"~3x faster than torch.func.jvp under vmap"). Those figures live here: each row names the
choice and the code it justifies, and times the alternatives interleaved in one process
(``_harness.measure_all``), reporting the fastest block of each (the better estimate on a shared
machine). Compile and trace times are the best of ``--repeats`` wall-clock runs.

    python benchmarks/design_choices.py            # about a minute
    python benchmarks/design_choices.py --quick    # smaller blocks, the gather at 1 M entries
Writes benchmarks/results/design_choices.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import RESULTS_DIR, environment, measure_all, setup_frameworks, stderr_progress  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One claim of the code: what it chose, where, and what was measured here."""

    where: str
    choice: str
    measured: str
    figure: str


def _us(t: Any) -> str:
    return f"{t.min * 1e6:,.1f} µs"


def _once(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# ---- PyTorch ---------------------------------------------------------------------------------
def _f(xp: Any) -> Callable[[Any], Any]:
    return lambda x: xp.sum(xp.sin(x) * x**2) + xp.sum(x[1:] * x[:-1])


def _g(xp: Any) -> Callable[[Any], Any]:
    return lambda x: xp.sin(x) * x + xp.roll(x, 1) * xp.cos(x)


def torch_allow_unused(args: argparse.Namespace) -> list[Row]:
    import torch

    f, rows = _f(torch), []
    for n in (10, 1000):
        x = torch.from_numpy(np.random.default_rng(0).standard_normal(n))

        def grad(**kw: Any) -> Any:
            xg = x.detach().requires_grad_(True)
            return torch.autograd.grad(f(xg), xg, **kw)[0]

        a, b = measure_all([grad, lambda: grad(allow_unused=True)], **args.timing)
        rows.append(Row("adopt/backends/torch.py `_grad` (\"allow_unused=True would cost ~10 us per call\")",
                        f"torch.autograd.grad without allow_unused, n = {n} (forward + backward)",
                        f"default {_us(a)}, allow_unused=True {_us(b)}",
                        f"{(b.min - a.min) * 1e6:+.1f} µs per call"))
    return rows


def torch_pushforward_one(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf
    from torch.autograd import forward_ad as fwad

    g, rows = _g(torch), []
    for n in (10, 1000):
        rng = np.random.default_rng(0)
        x, t = torch.from_numpy(rng.standard_normal(n)), torch.from_numpy(rng.standard_normal(n))

        def dual() -> Any:
            with fwad.dual_level():
                return fwad.unpack_dual(g(fwad.make_dual(x, t))).tangent

        def level() -> Any:  # what dual_level() calls, without the context manager
            fwad.enter_dual_level()
            try:
                return fwad.unpack_dual(g(fwad.make_dual(x, t))).tangent
            finally:
                fwad.exit_dual_level()

        vm = tf.vmap(lambda v: tf.jvp(g, (x,), (v,))[1])
        a, b, c, d = measure_all([dual, lambda: vm(t[None]), lambda: tf.jvp(g, (x,), (t,))[1], level],
                                 **args.timing)
        rows.append(Row("adopt/backends/torch.py `pushforward_one` (\"~3x faster than "
                        "torch.func.jvp under vmap\")", f"one tangent, eager dual numbers, n = {n}",
                        f"dual {_us(a)}, vmap(jvp) of 1 {_us(b)}, jvp {_us(c)}",
                        f"vmap(jvp) / dual = {b.min / a.min:.1f}x, jvp / dual = {c.min / a.min:.1f}x"))
        rows.append(Row("adopt/backends/torch.py `pushforward_one` (enters and exits the dual level "
                        "itself: \"what fwAD.dual_level() calls, without its two frames\")",
                        f"one tangent, eager dual numbers, n = {n}",
                        f"with fwad.dual_level() {_us(a)}, enter_dual_level / exit_dual_level {_us(d)}",
                        f"{(d.median - a.median) * 1e6:+.1f} µs per call (medians), paired ratio "
                        f"{_paired(d, a):.3f}"))
    return rows


def _paired(t: Any, ref: Any) -> float:
    """The median over rounds of t / ref within each round (the blocks are interleaved)."""
    return statistics.median(a / b for a, b in zip(t.per_block, ref.per_block))


def torch_pullback_batch(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf

    g, rows = _g(torch), []
    for n in (10, 30, 100, 300, 1000):
        x, E = torch.from_numpy(np.random.default_rng(0).standard_normal(n)), torch.eye(n, dtype=torch.float64)

        def batched() -> Any:
            xg = x.detach().requires_grad_(True)
            return torch.autograd.grad(g(xg), xg, E, is_grads_batched=True)[0]

        def func() -> Any:
            _, vjp = tf.vjp(g, x)
            return tf.vmap(lambda t: vjp(t)[0])(E)

        a, b = measure_all([batched, func], **args.timing)
        rows.append(Row("adopt/backends/torch.py `FUNC_PULLBACK_BATCH` (\"0.73x / 1.00x at n = 10 / "
                        "30, 1.72x / 2.33x / 1.88x at n = 100 / 300 / 1000\")",
                        f"a batch of n cotangents (reverse Jacobian), n = {n}",
                        f"is_grads_batched {_us(a)}, torch.func vmap(vjp) {_us(b)}",
                        f"is_grads_batched / torch.func = {a.min / b.min:.2f}x"))
    return rows


def torch_second_derivative(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf

    def h(t: Any) -> Any:
        return torch.sin(t) * t**2 + torch.exp(-t)

    t = torch.tensor(0.7, dtype=torch.float64)

    def eager() -> Any:
        tg = t.detach().requires_grad_(True)
        (d,) = torch.autograd.grad(h(tg), tg, create_graph=True)
        return torch.autograd.grad(d, tg)[0]

    nested = tf.grad(tf.grad(h))
    a, b = measure_all([eager, lambda: nested(t)], **args.timing)
    return [Row("adopt/backends/torch.py `derivative_and_second` (\"about 9x faster than nested "
                "torch.func transforms\")", "second derivative of a scalar function: eager double backward",
                f"eager {_us(a)}, torch.func.grad(grad(h)) {_us(b)}", f"nested / eager = {b.min / a.min:.1f}x")]


def torch_forward_cost(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf

    g, rows, k = _g(torch), [], 10
    for n in (100, 1000):
        rng = np.random.default_rng(0)
        x, T = torch.from_numpy(rng.standard_normal(n)), torch.from_numpy(rng.standard_normal((k, n)))
        fwd = tf.vmap(lambda v: tf.jvp(g, (x,), (v,))[1])

        def rev() -> Any:
            xg = x.detach().requires_grad_(True)
            return torch.autograd.grad(g(xg), xg, T, is_grads_batched=True)[0]

        a, b = measure_all([lambda: fwd(T), rev], **args.timing)
        rows.append(Row("adopt/backends/__init__.py `AutoTorch.forward_cost = 3.0`, "
                        "adopt/operators/_derive.py `jacobian_mode` (\"a batched torch JVP costs ~3 batched VJPs\")",
                        f"{k} tangents, n = {n}: vmap(jvp) against eager batched backward",
                        f"vmap(jvp) {_us(a)}, batched backward {_us(b)}", f"forward / reverse = {a.min / b.min:.1f}"))
    return rows


def torch_capture(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf
    from torch.fx.experimental.proxy_tensor import make_fx

    from adopt.problems import brusselator_for

    N = 32
    n, f = 2 * N * N, brusselator_for("torch", N)
    rng = np.random.default_rng(0)
    x, T = torch.from_numpy(rng.uniform(0, 1, n)), torch.from_numpy(rng.standard_normal((12, n)))

    def batched(x: Any, T: Any) -> Any:
        return tf.vmap(lambda v: tf.jvp(f, (x,), (v,))[1])(T)

    graph = make_fx(batched, tracing_mode="fake")(x, T)
    t_trace = _once(lambda: make_fx(batched, tracing_mode="fake")(x, T), args.repeats)
    assert torch.allclose(graph(x, T), batched(x, T))
    a, b = measure_all([lambda: graph(x, T), lambda: batched(x, T)], **args.timing)
    return [Row("adopt/backends/torch.py `capture` (\"about 10x faster on sparse Jacobians\")",
                f"12 batched JVPs of the Brusselator (N = {N}, n = {n}): make_fx graph (without adopt's "
                "constant folding) against vmap(jvp) per-op dispatch",
                f"graph {_us(a)}, vmap(jvp) {_us(b)}; trace {t_trace:.2f} s once",
                f"vmap / graph = {b.min / a.min:.1f}x")]


def torch_linearize(args: argparse.Namespace) -> list[Row]:
    import torch
    from torch import func as tf

    g, rows = _g(torch), []
    for n in (10, 1000):
        x = torch.from_numpy(np.random.default_rng(0).standard_normal(n))
        t = _once(lambda: tf.linearize(g, x), args.repeats)
        rows.append(Row("adopt/backends/torch.py above `pullback_at` (\"torch.func.linearize traces "
                        "f with make_fx at every point (0.1-0.4 s)\")", f"torch.func.linearize(g, x), n = {n}",
                        f"{t * 1e3:,.0f} ms per point", f"{t:.2f} s"))
    return rows


def torch_decompositions(args: argparse.Namespace) -> list[Row]:
    from torch._decomp import core_aten_decompositions

    t = _once(lambda: dict(core_aten_decompositions()), args.repeats)
    return [Row("adopt/_sparse/detection/torch/__init__.py `_decompositions` (\"it costs ~0.1 s to build\")",
                "materialise the Core ATen decomposition table once per process",
                f"{t * 1e3:,.0f} ms", f"{t:.2f} s")]


# ---- JAX -------------------------------------------------------------------------------------
def jax_basis_constant(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp

    n, g = 1000, _g(jnp)
    x = jnp.asarray(np.random.default_rng(0).standard_normal(n))
    E = jnp.eye(n)
    push = jax.vmap(lambda x, t: jax.jvp(g, (x,), (t,))[1], in_axes=(None, 0))
    const = jax.jit(lambda x: push(x, E))
    inside = jax.jit(lambda x: push(x, jnp.eye(n, dtype=x.dtype)))
    a, b = measure_all([lambda: inside(x).block_until_ready(), lambda: const(x).block_until_ready()],
                       **args.timing)
    return [Row("adopt/operators/_derive.py `basis` (\"a captured n x n constant makes the batched "
                "products several times slower\")", f"jax.jit of {n} batched JVPs, basis built inside vs captured",
                f"inside {_us(a)}, captured constant {_us(b)}", f"captured / inside = {b.min / a.min:.1f}x")]


def jax_gather_constant(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp

    m = 1_000_000 if args.quick else 6_000_000
    idx = jnp.asarray(np.random.default_rng(0).integers(0, m, m))
    v = jnp.zeros(m)

    def compile_const() -> Any:
        return jax.jit(lambda v: v[idx]).lower(v).compile()

    def compile_arg() -> Any:
        return jax.jit(lambda v, i: v[i]).lower(v, idx).compile()

    t_const, t_arg = _once(compile_const, args.repeats), _once(compile_arg, args.repeats)
    return [Row("adopt/_autosparse/ops.py module docstring (\"a 6 M-entry gather compiles in about "
                "1.7 s as a constant, 0.04 s as an argument\")", f"compile a {m / 1e6:.0f} M-entry gather",
                f"constant {t_const:.2f} s, argument {t_arg:.2f} s", f"{t_const / t_arg:.0f}x")]


def jax_pure_callback(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp

    from optax_bridge import _floor  # the emit_python_callback floor of the Optax benchmark

    n = 1000
    x = jnp.asarray(np.random.default_rng(0).standard_normal(n))
    zeros = (np.zeros(()), np.zeros(n))
    shapes = (jax.ShapeDtypeStruct((), x.dtype), jax.ShapeDtypeStruct((n,), x.dtype))
    pure = jax.jit(lambda x: jax.pure_callback(lambda a: zeros, shapes, x))
    emit = _floor(n)
    a, b = measure_all([lambda: emit(x)[1].block_until_ready(), lambda: pure(x)[1].block_until_ready()],
                       **args.timing)
    return [Row("adopt/_differentiate_with/_jax.py `_lowering` (\"jax.pure_callback would first copy "
                "its arguments into jax arrays, about 100 µs per call on CPU\")",
                f"a jitted host callback returning constants, n = {n}",
                f"emit_python_callback {_us(a)}, jax.pure_callback {_us(b)}",
                f"{(b.min - a.min) * 1e6:+.1f} µs per call")]


def jax_check_after_run(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp

    import adopt

    g, n = _g(jnp), 1000
    rng = np.random.default_rng(0)
    x, v = jnp.asarray(rng.standard_normal(n)), jnp.asarray(rng.standard_normal(n))
    b = adopt.AutoJAX()
    prep = adopt.prepare_pushforward(g, b, x, (v,))
    bare = jax.jit(lambda x, v: jax.jvp(g, (x,), (v,))[1])

    def before() -> Any:
        prep.check("pushforward", g, b, x, (), (v,))
        return bare(x, v).block_until_ready()

    def after() -> Any:
        y = bare(x, v)
        prep.check("pushforward", g, b, x, (), (v,))
        return y.block_until_ready()

    timing = dict(args.timing, blocks=3 * args.timing.get("blocks", 9))
    t0, t1, t2 = measure_all([lambda: bare(x, v).block_until_ready(), before, after], **timing)
    return [Row("adopt/operators/_common.py `run_op` (a strict JAX prep is checked after the call is "
                "dispatched: \"checked before, the same check cost 5-10 % of a prepared JAX call at "
                "n = 1000\")", f"the strict check of a JAX pushforward prep around the bare jax.jit, n = {n}",
                f"bare {_us(t0)}, check before {_us(t1)}, check after {_us(t2)}",
                f"before {100 * (t1.median / t0.median - 1):+.1f} %, after "
                f"{100 * (t2.median / t0.median - 1):+.1f} % (medians)")]


def jax_call_floor(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp

    import adopt

    g, n = _g(jnp), 1000
    rng = np.random.default_rng(0)
    x, v = jnp.asarray(rng.standard_normal(n)), jnp.asarray(rng.standard_normal(n))
    b = adopt.AutoJAX()
    strict, loose = adopt.prepare_pushforward(g, b, x, (v,)), adopt.prepare_pushforward(g, b, x, (v,), strict=False)
    bare = jax.jit(lambda x, v: jax.jvp(g, (x,), (v,))[1])

    def signature(f: Any, backend: Any, x: Any, tx: tuple, *contexts: Any, prep: Any = None,
                  y: Any = None, out: Any = None) -> Any:
        """adopt.pushforward's call signature around the prepared function, and nothing else."""
        return prep.run(x, tx, contexts)

    # differences of 1-2 µs on a 50 µs call: many rounds (the paired ratio's spread is ~5 %)
    timing = dict(args.timing, blocks=8 * args.timing.get("blocks", 9), max_case_time=60.0)
    t0, t1, t2, t3 = measure_all([
        lambda: bare(x, v).block_until_ready(),
        lambda: signature(g, b, x, (v,), prep=loose)[0].block_until_ready(),
        lambda: adopt.pushforward(g, b, x, (v,), prep=loose)[0].block_until_ready(),
        lambda: adopt.pushforward(g, b, x, (v,), prep=strict)[0].block_until_ready()], **timing)
    plus = lambda t: f"{(t.median - t0.median) * 1e6:+.1f} µs, {_paired(t, t0):.3f}x"  # noqa: E731
    return [Row("README.md, Strict checks (\"a JAX call of about 50 µs carries 2-4 µs of Python, "
                "whether strict or not, most of it the call itself\")",
                f"a prepared JAX pushforward, n = {n}, against the bare jax.jit and against a function "
                "with adopt.pushforward's signature that only runs the prepared function",
                f"bare {_us(t0)}, the signature alone {_us(t1)}, strict=False {_us(t2)}, strict {_us(t3)}",
                f"over the bare call (medians; paired ratios): the signature alone {plus(t1)}, "
                f"strict=False {plus(t2)}, strict {plus(t3)}")]


def jax_bcoo_unflatten(args: argparse.Namespace) -> list[Row]:
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse

    import adopt
    from adopt.problems import brusselator_residual

    N = 16
    f, x = brusselator_residual(N), jnp.asarray(np.random.default_rng(0).uniform(0, 1, 2 * N * N))
    b = adopt.AutoSparse(adopt.AutoJAX(), format="values")
    prep = adopt.prepare_jacobian(f, b, x)
    P = adopt.sparsity_pattern(prep).tocoo()
    idx = jnp.asarray(np.stack([P.row, P.col], axis=1).astype(np.int32))
    values = lambda: adopt.jacobian(f, b, x, prep=prep)  # noqa: E731
    treedef = jax.tree_util.tree_structure(jsparse.BCOO((values(), idx), shape=P.shape))

    def constructor() -> Any:
        return jsparse.BCOO((values(), idx), shape=P.shape, indices_sorted=True,
                            unique_indices=True).data.block_until_ready()

    def unflatten() -> Any:
        return treedef.unflatten((values(), idx)).data.block_until_ready()

    a, b_, c = measure_all([constructor, unflatten, lambda: values().block_until_ready()], **args.timing)
    return [Row("adopt/_autosparse/formats.py `_bcoo_formatter` (BCOO results built by unflattening "
                "a pytree, as jax.jit returns them, not by the BCOO constructor)",
                f"a prepared sparse Jacobian (Brusselator, n = {2 * N * N}, {P.nnz} nonzeros) and its BCOO",
                f"constructor {_us(a)}, unflatten {_us(b_)}, the values alone {_us(c)}",
                f"constructor +{(a.median - c.median) * 1e6:.1f} µs, unflatten "
                f"+{(b_.median - c.median) * 1e6:.1f} µs per call (medians)")]


CLAIMS = (torch_allow_unused, torch_pushforward_one, torch_pullback_batch, torch_second_derivative,
          torch_forward_cost, torch_capture, torch_linearize, torch_decompositions, jax_basis_constant,
          jax_gather_constant, jax_pure_callback, jax_check_after_run, jax_call_floor, jax_bcoo_unflatten)

NOT_MEASURED = (
    "adopt/backends/torch.py module docstring and adopt/backends/__init__.py `AutoTorch` "
    "(\"eager torch.autograd ... several times faster than torch.func on CPU\"): both are timed "
    "as baselines in results/dense.md (gradient, hvp, pullback; the faster one is the reference).",
    "adopt/_sparse/coloring/_loops.py module docstring (numba compilation \"seconds\", cached "
    "loads \"under a second\", the NumPy fallback \"one to two orders of magnitude slower\"): "
    "measured by benchmarks/coloring.py into results/coloring.md.",
)


def write(rows: Sequence[Row], out: Path) -> str:
    lines = ["# Timing claims of the code, re-measured", "", environment(), "",
             "Per-call times: the fastest of the interleaved blocks; compile and trace times: the "
             "best of the repeats. `python benchmarks/design_choices.py` re-measures them.", "",
             "| where (and the figure it quoted) | choice | measured | figure |", "|---|---|---|---|"]
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > cpus:
        lines[4:4] = [f"**Measured on a busy machine (load average {load:.1f} on {cpus} CPUs): "
                      "per-call ratios then vary by several times between runs; re-measure on a "
                      "quiet machine before quoting them.**", ""]
    lines += [f"| {r.where} | {r.choice} | {r.measured} | {r.figure} |" for r in rows]
    lines += ["", "Measured elsewhere:", ""] + [f"- {n}" for n in NOT_MEASURED]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "design_choices.md").write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 blocks of 5 ms, the gather at 1 M entries")
    p.add_argument("--repeats", type=int, default=3, help="best of this many compile / trace runs")
    p.add_argument("--only", default=None, help="comma list of claim functions, e.g. torch_capture")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    args.timing = dict(blocks=3, min_time=0.005) if args.quick else dict(blocks=15, min_time=0.02)
    setup_frameworks()
    rows: list[Row] = []
    for claim in CLAIMS:
        if args.only is None or claim.__name__ in args.only.split(","):
            stderr_progress(f"{claim.__name__} …")
            rows += claim(args)
    print(write(rows, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
