"""Benchmark machinery: prepared adopt calls against the bare framework doing the same work.

One implementation serves ``adopt bench`` / ``adopt demo`` and the harness in ``benchmarks/``.
The timing method: every function is called once (preparation and compilation are not timed),
calibrated to a number of calls per block that exceeds ``min_time``, and then the blocks of
all functions of a case are *interleaved* (adopt, baseline, baseline, ..., alternating the
order), so that drifts of clock, cache and thermal state hit every side alike. The reported
time per call is the median over blocks. JAX outputs are waited for inside the timed loop
(``.block_until_ready()``) on both sides.

Nothing here flips a framework setting: the caller (the user of this module) enables JAX's
x64 mode and chooses torch's thread count.
"""

from __future__ import annotations

import csv
import gc
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

import adopt

__all__ = [
    "Timing", "Case", "CaseSpec", "Result", "Skipped", "measure", "measure_all", "run_case", "run_cases",
    "write_csv", "write_markdown", "format_table", "environment", "dense_specs",
    "DEFAULT_SIZES", "DEFAULT_MATRIX_SIZES", "VECTOR_OPERATORS", "MATRIX_OPERATORS",
    "SCALAR_OPERATORS", "BACKENDS", "dense_skipped", "DENSE_NOTES", "stderr_progress",
]

#: sizes of x for gradient, hvp, pushforward and pullback
DEFAULT_SIZES: tuple[int, ...] = (10, 1000, 100_000)
#: sizes of x for dense Jacobians and Hessians (n = 100000 would be an 80 GB matrix)
DEFAULT_MATRIX_SIZES: tuple[int, ...] = (10, 100, 1000)
#: dense Jacobians, Hessians and finite-difference gradients run up to this size by default
DENSE_LIMIT = 1000
VECTOR_OPERATORS = ("gradient", "hvp", "pushforward", "pullback")
MATRIX_OPERATORS = ("jacobian", "hessian")
SCALAR_OPERATORS = ("derivative", "second_derivative")
BACKENDS = ("AutoJAX", "AutoTorch", "AutoFiniteDiff")


# ---- timing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds per call of one function: median and minimum over the blocks."""

    median: float
    min: float
    calls: int      # calls per block
    blocks: int


def _time_block(fn: Callable[[], Any], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t0


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """The number of calls whose block takes at least ``min_time`` (``fn`` is already warm)."""
    calls = 1
    while True:
        t = _time_block(fn, calls)
        if t >= min_time:
            return calls
        grow = min_time / t * 1.2 if t > 0 else 10.0
        calls = max(calls + 1, min(calls * 10, math.ceil(calls * grow)))


def measure_all(fns: Sequence[Callable[[], Any]], *, blocks: int = 9,
                min_time: float = 0.02, max_case_time: float = 6.0) -> list[Timing]:
    """Time several zero-argument functions in interleaved blocks; one :class:`Timing` each.

    Each function is run once to warm up, calibrated so that a block of its calls lasts at
    least ``min_time`` seconds, and then ``blocks`` rounds are run in which every function
    runs one block (the order alternates between rounds). The number of rounds is reduced
    (to no fewer than 3) if the case would otherwise take longer than ``max_case_time``.

    Examples
    --------
    >>> from adopt._bench import measure_all
    >>> a, b = measure_all([lambda: sum(range(10)), lambda: sum(range(20))], blocks=3, min_time=1e-3)
    >>> a.median > 0 and b.median > 0
    True
    """
    for fn in fns:
        fn()
    calls = [_calibrate(fn, min_time) for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        t_start = time.perf_counter()
        for b in range(blocks):
            order = range(len(fns)) if b % 2 == 0 else reversed(range(len(fns)))
            for i in order:
                times[i].append(_time_block(fns[i], calls[i]) / calls[i])
            if b + 1 >= 3 and time.perf_counter() - t_start > max_case_time:
                break
    finally:
        if enabled:
            gc.enable()
    return [Timing(statistics.median(t), min(t), c, len(t)) for t, c in zip(times, calls)]


def measure(adopt_fn: Callable[[], Any], bare_fn: Callable[[], Any], *, blocks: int = 9,
            min_time: float = 0.02) -> tuple[Timing, Timing]:
    """Time a prepared adopt call against the bare framework, interleaved; see :func:`measure_all`.

    Examples
    --------
    >>> from adopt._bench import measure
    >>> t_adopt, t_bare = measure(lambda: sum(range(10)), lambda: sum(range(10)), blocks=3, min_time=1e-3)
    >>> t_adopt.median > 0
    True
    """
    a, b = measure_all([adopt_fn, bare_fn], blocks=blocks, min_time=min_time)
    return a, b


# ---- cases and results --------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A benchmark case, built (prepared, compiled, warmed) and ready to time.

    ``adopt`` is the prepared adopt call; ``baselines`` maps a description of each bare
    framework way of doing the same work to a zero-argument function. The fastest baseline is
    the reference. ``to_numpy`` turns any output into NumPy for the agreement check.
    """

    adopt: Callable[[], Any]
    baselines: Mapping[str, Callable[[], Any]]
    to_numpy: Callable[[Any], np.ndarray] = np.asarray
    rtol: float = 1e-7
    atol: float = 1e-9


@dataclass(frozen=True)
class CaseSpec:
    """A case not yet built: what it is, and how to build it (which may compile)."""

    operator: str
    backend: str
    n: int
    build: Callable[[], Case] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.operator} n={self.n}"


@dataclass(frozen=True)
class Result:
    """One row of the results: times in microseconds per call, ratio = adopt / bare."""

    operator: str
    backend: str
    n: int
    adopt_us: float
    bare_us: float
    ratio: float
    baseline: str
    adopt_min_us: float
    bare_min_us: float
    ratio_min: float
    agree: bool


RESULT_COLUMNS = tuple(f.name for f in fields(Result))


def _agree(case: Case) -> bool:
    ref = case.to_numpy(next(iter(case.baselines.values()))())
    got = case.to_numpy(case.adopt())
    return got.shape == ref.shape and bool(np.allclose(got, ref, rtol=case.rtol, atol=case.atol))


def run_case(spec: CaseSpec, *, blocks: int = 9, min_time: float = 0.02) -> Result:
    """Build a case, check that adopt and the baseline agree, and time them interleaved."""
    case = spec.build()
    agree = _agree(case)
    names = list(case.baselines)
    timings = measure_all([case.adopt, *case.baselines.values()], blocks=blocks, min_time=min_time)
    t_adopt, bare = timings[0], timings[1:]
    best = min(range(len(bare)), key=lambda i: bare[i].median)
    desc = names[best]
    if len(names) > 1:
        others = ", ".join(f"{n}: {t.median * 1e6:.4g} µs" for n, t in zip(names, bare) if n != desc)
        desc = f"{desc} (faster than {others})"
    return Result(spec.operator, spec.backend, spec.n, t_adopt.median * 1e6, bare[best].median * 1e6,
                  t_adopt.median / bare[best].median, desc, t_adopt.min * 1e6, bare[best].min * 1e6,
                  t_adopt.min / bare[best].min, agree)


def run_cases(specs: Sequence[CaseSpec], *, blocks: int = 9, min_time: float = 0.02,
              progress: Callable[[str], None] | None = None) -> list[Result]:
    """Run every case in turn, reporting ``[i/N] label …`` to ``progress`` before each."""
    results = []
    for i, spec in enumerate(specs, 1):
        if progress is not None:
            progress(f"[{i}/{len(specs)}] {spec.label} …")
        results.append(run_case(spec, blocks=blocks, min_time=min_time))
    return results


def stderr_progress(msg: str) -> None:
    """Print a progress line on stderr (and flush it, so that it shows while the case runs)."""
    print(msg, file=sys.stderr, flush=True)


# ---- output -------------------------------------------------------------------------------
def write_csv(results: Iterable[Result], path: str | os.PathLike[str]) -> Path:
    """Write the results as CSV (columns :data:`RESULT_COLUMNS`) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in asdict(r).items()})
    return path


def _fmt(t: float) -> str:
    return f"{t:.3g}" if t < 100 else f"{t:,.0f}"


@dataclass(frozen=True)
class Skipped:
    """A case left out on purpose, shown in the table with the reason."""

    operator: str
    backend: str
    n: int
    reason: str


TABLE_HEADER = ("operator", "backend", "n", "adopt µs", "bare µs", "ratio", "min ratio", "baseline")


def table_rows(results: Iterable[Result], skipped: Iterable[Skipped] = ()) -> list[list[str]]:
    """Header and rows of the table (see :data:`TABLE_HEADER`); skipped cases last."""
    rows = [list(TABLE_HEADER)]
    for r in results:
        flag = "" if r.agree else " [results differ!]"
        rows.append([r.operator, r.backend, str(r.n), _fmt(r.adopt_us), _fmt(r.bare_us),
                     f"{r.ratio:.2f}", f"{r.ratio_min:.2f}", r.baseline + flag])
    for s in skipped:
        rows.append([s.operator, s.backend, str(s.n), "—", "—", "—", "—", f"skipped: {s.reason}"])
    return rows


def format_table(results: Iterable[Result], skipped: Iterable[Skipped] = (),
                 markdown: bool = False) -> str:
    """The results as an aligned text table, or a markdown table."""
    rows = table_rows(results, skipped)
    right = (2, 3, 4, 5, 6)
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("---:" if i in right else "---" for i in range(len(rows[0]))) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells + [row[-1]]))
    return "\n".join(out)


def environment() -> str:
    """One line describing the machine and the framework versions."""
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"{os.cpu_count()} CPUs", platform.machine()]
    for name in ("jax", "torch", "scipy"):
        mod = sys.modules.get(name)
        if mod is not None:
            parts.append(f"{name} {mod.__version__}")
    if "jax" in sys.modules:
        parts.append(f"jax_enable_x64={sys.modules['jax'].config.jax_enable_x64}")
    if "torch" in sys.modules:
        parts.append(f"torch threads={sys.modules['torch'].get_num_threads()}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    return ", ".join(parts)


def write_markdown(results: Sequence[Result], path: str | os.PathLike[str], title: str,
                   notes: Sequence[str] = (), skipped: Sequence[Skipped] = ()) -> Path:
    """Write the results as a markdown page: title, environment, table, notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = [f"# {title}", "", environment(), "", format_table(results, skipped, markdown=True), ""]
    text += [f"- {n}" for n in notes]
    path.write_text("\n".join(text) + "\n")
    return path


DENSE_NOTES = (
    "Times are microseconds per prepared call: the median over interleaved blocks (adopt and "
    "the baselines alternate), each block at least 20 ms of calls; ratio = adopt / bare of the "
    "medians, min ratio = the same of the fastest blocks (less sensitive to a busy machine).",
    "Preparation (tracing, jit compilation) is not timed. JAX outputs are waited for "
    "(`.block_until_ready()`) inside the timed loop on both sides.",
    "Inputs are native: jax.Array for AutoJAX, torch.Tensor for AutoTorch, NumPy for "
    "AutoFiniteDiff (one extra row: AutoJAX with NumPy input), all float64.",
    "jacobian and hessian are dense: they run at n = 10, 100, 1000 only (n = 100000 would be "
    "an 80 GB matrix); finite differences also stop at n = 1000 (2n evaluations of f per "
    "gradient or Jacobian).",
    "For AutoTorch the reference is the faster of eager torch.autograd and torch.func; the "
    "slower one is named in brackets. AutoFiniteDiff is compared with SciPy's "
    "approx_derivative (3-point, 2-point, cs), which has no pushforward, pullback or hvp.",
    "Test functions: f(x) = sum(sin(x) x²) + sum(x[1:] x[:-1]) (scalar; gradient, hvp, "
    "hessian), g(x) = sin(x) x + roll(x, 1) cos(x) (vector; jacobian, pushforward, "
    "pullback), h(t) = sin(t) t² + exp(-t) at scalar t (derivative, second_derivative).",
)


# ---- dense cases --------------------------------------------------------------------------
def _test_functions(xp: Any) -> tuple[Callable, Callable, Callable]:
    """The benchmark's f (scalar of a vector), g (square vector map), h (scalar of a scalar),
    written with the array module ``xp`` (jax.numpy, torch or NumPy)."""
    def f(x: Any) -> Any:
        return xp.sum(xp.sin(x) * x**2) + xp.sum(x[1:] * x[:-1])

    def g(x: Any) -> Any:
        return xp.sin(x) * x + xp.roll(x, 1) * xp.cos(x)

    def h(t: Any) -> Any:
        return xp.sin(t) * t**2 + xp.exp(-t)

    return f, g, h


def _point(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n), rng.standard_normal(n)


def _jax_cases(op: str, n: int) -> Case:
    import jax
    import jax.numpy as jnp

    f, g, h = _test_functions(jnp)

    be = adopt.AutoJAX()
    xn, vn = _point(n)
    x, v = jnp.asarray(xn), jnp.asarray(vn)
    t = jnp.asarray(0.7)
    to_np = np.asarray
    if op == "gradient":
        prep, bare = adopt.prepare_gradient(f, be, x), jax.jit(jax.grad(f))
        return Case(lambda: adopt.gradient(f, be, x, prep=prep).block_until_ready(),
                    {"jax.jit(jax.grad(f))": lambda: bare(x).block_until_ready()}, to_np)
    if op == "gradient (NumPy x)":
        prep, bare = adopt.prepare_gradient(f, be, xn), jax.jit(jax.grad(f))
        return Case(lambda: adopt.gradient(f, be, xn, prep=prep),
                    {"np.asarray(jax.jit(jax.grad(f))(jnp.asarray(x)))": lambda: np.asarray(bare(jnp.asarray(xn)))},
                    to_np)
    if op == "jacobian":
        prep = adopt.prepare_jacobian(g, be, x)
        mode = prep.info["mode"]
        bare = jax.jit(jax.jacfwd(g) if mode == "forward" else jax.jacrev(g))
        name = "jax.jit(jax.jacfwd(g))" if mode == "forward" else "jax.jit(jax.jacrev(g))"
        return Case(lambda: adopt.jacobian(g, be, x, prep=prep).block_until_ready(),
                    {name: lambda: bare(x).block_until_ready()}, to_np)
    if op == "hvp":
        prep = adopt.prepare_hvp(f, be, x, (v,))
        bare = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        return Case(lambda: adopt.hvp(f, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jvp(grad(f)))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "hessian":
        prep, bare = adopt.prepare_hessian(f, be, x), jax.jit(jax.hessian(f))
        return Case(lambda: adopt.hessian(f, be, x, prep=prep).block_until_ready(),
                    {"jax.jit(jax.hessian(f))": lambda: bare(x).block_until_ready()}, to_np)
    if op == "pushforward":
        prep = adopt.prepare_pushforward(g, be, x, (v,))
        bare = jax.jit(lambda x, v: jax.jvp(g, (x,), (v,))[1])
        return Case(lambda: adopt.pushforward(g, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jax.jvp(g))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "pullback":
        prep = adopt.prepare_pullback(g, be, x, (v,))
        bare = jax.jit(lambda x, w: jax.vjp(g, x)[1](w)[0])
        return Case(lambda: adopt.pullback(g, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jax.vjp(g))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "derivative":
        prep, bare = adopt.prepare_derivative(h, be, t), jax.jit(jax.grad(h))
        return Case(lambda: adopt.derivative(h, be, t, prep=prep).block_until_ready(),
                    {"jax.jit(jax.grad(h))": lambda: bare(t).block_until_ready()}, to_np)
    if op == "second_derivative":
        prep, bare = adopt.prepare_second_derivative(h, be, t), jax.jit(jax.grad(jax.grad(h)))
        return Case(lambda: adopt.second_derivative(h, be, t, prep=prep).block_until_ready(),
                    {"jax.jit(grad(grad(h)))": lambda: bare(t).block_until_ready()}, to_np)
    raise ValueError(f"no AutoJAX case for {op!r}")


def _torch_cases(op: str, n: int) -> Case:
    import torch
    from torch import func as tf
    from torch.autograd import forward_ad as fwad

    f, g, h = _test_functions(torch)

    def grad(fun: Callable, x: Any, *ty: Any, create_graph: bool = False, **kw: Any) -> Any:
        xg = x.detach().requires_grad_(True)
        return torch.autograd.grad(fun(xg), xg, *ty, create_graph=create_graph, **kw)[0]

    def hvp_eager(fun: Callable, x: Any, v: Any, **kw: Any) -> Any:
        xg = x.detach().requires_grad_(True)
        (gr,) = torch.autograd.grad(fun(xg), xg, create_graph=True)
        return torch.autograd.grad(gr, xg, v, **kw)[0]

    def jvp_eager(x: Any, v: Any) -> Any:
        with fwad.dual_level():
            return fwad.unpack_dual(g(fwad.make_dual(x, v))).tangent

    be = adopt.AutoTorch()
    xn, vn = _point(n)
    x, v = torch.from_numpy(xn), torch.from_numpy(vn)
    t = torch.tensor(0.7, dtype=torch.float64)
    to_np = lambda a: a.detach().numpy()  # noqa: E731
    if op == "gradient":
        prep, fg = adopt.prepare_gradient(f, be, x), tf.grad(f)
        return Case(lambda: adopt.gradient(f, be, x, prep=prep),
                    {"torch.autograd.grad": lambda: grad(f, x), "torch.func.grad": lambda: fg(x)}, to_np)
    if op == "jacobian":
        prep = adopt.prepare_jacobian(g, be, x)
        fwd = prep.info["mode"] == "forward"
        fj = tf.jacfwd(g) if fwd else tf.jacrev(g)
        strategy = "forward-mode" if fwd else "reverse-mode"
        return Case(lambda: adopt.jacobian(g, be, x, prep=prep),
                    {f"torch.func.{'jacfwd' if fwd else 'jacrev'}": lambda: fj(x),
                     f"torch.autograd.functional.jacobian({strategy}, vectorize)":
                         lambda: torch.autograd.functional.jacobian(g, x, vectorize=True, strategy=strategy)},
                    to_np)
    if op == "hvp":
        prep, fg = adopt.prepare_hvp(f, be, x, (v,)), tf.grad(f)
        return Case(lambda: adopt.hvp(f, be, x, (v,), prep=prep)[0],
                    {"eager double backward": lambda: hvp_eager(f, x, v),
                     "torch.func.jvp(grad(f))": lambda: tf.jvp(fg, (x,), (v,))[1]}, to_np)
    if op == "hessian":
        prep, fh, eye = adopt.prepare_hessian(f, be, x), tf.hessian(f), torch.eye(n, dtype=x.dtype)
        return Case(lambda: adopt.hessian(f, be, x, prep=prep),
                    {"torch.func.hessian": lambda: fh(x),
                     "eager double backward, batched": lambda: hvp_eager(f, x, eye, is_grads_batched=True)},
                    to_np)
    if op == "pushforward":
        prep = adopt.prepare_pushforward(g, be, x, (v,))
        return Case(lambda: adopt.pushforward(g, be, x, (v,), prep=prep)[0],
                    {"torch.func.jvp": lambda: tf.jvp(g, (x,), (v,))[1],
                     "eager forward_ad dual": lambda: jvp_eager(x, v)}, to_np)
    if op == "pullback":
        prep = adopt.prepare_pullback(g, be, x, (v,))
        return Case(lambda: adopt.pullback(g, be, x, (v,), prep=prep)[0],
                    {"torch.autograd.grad": lambda: grad(g, x, v),
                     "torch.func.vjp": lambda: tf.vjp(g, x)[1](v)[0]}, to_np)
    if op == "derivative":
        prep, fg = adopt.prepare_derivative(h, be, t), tf.grad(h)
        return Case(lambda: adopt.derivative(h, be, t, prep=prep),
                    {"torch.autograd.grad": lambda: grad(h, t), "torch.func.grad": lambda: fg(t)}, to_np)
    if op == "second_derivative":
        prep, fgg = adopt.prepare_second_derivative(h, be, t), tf.grad(tf.grad(h))
        return Case(lambda: adopt.second_derivative(h, be, t, prep=prep),
                    {"eager double backward": lambda: hvp_eager(h, t, torch.ones_like(t)),
                     "torch.func.grad(grad(h))": lambda: fgg(t)}, to_np)
    raise ValueError(f"no AutoTorch case for {op!r}")


_SCIPY_METHOD = {"central": "3-point", "forward": "2-point", "complex": "cs"}


def _fd_cases(op: str, n: int, method: str = "central") -> Case:
    from scipy.optimize._numdiff import approx_derivative  # the function behind every SciPy solver

    f, g, h = _test_functions(np)

    be = adopt.AutoFiniteDiff(method=method)
    sm = _SCIPY_METHOD[method]
    x, _ = _point(n)
    tol = {"rtol": 1e-6, "atol": 1e-8}
    if op == "gradient":
        prep = adopt.prepare_gradient(f, be, x)
        return Case(lambda: adopt.gradient(f, be, x, prep=prep),
                    {f"scipy approx_derivative({sm})": lambda: approx_derivative(f, x, method=sm)}, **tol)
    if op == "jacobian":
        prep = adopt.prepare_jacobian(g, be, x)
        return Case(lambda: adopt.jacobian(g, be, x, prep=prep),
                    {f"scipy approx_derivative({sm})": lambda: approx_derivative(g, x, method=sm)}, **tol)
    if op == "derivative":
        prep = adopt.prepare_derivative(h, be, 0.7)
        return Case(lambda: adopt.derivative(h, be, 0.7, prep=prep),
                    {f"scipy approx_derivative({sm})": lambda: approx_derivative(h, 0.7, method=sm)},
                    to_numpy=lambda a: np.asarray(a).reshape(-1), **tol)
    raise ValueError(f"no AutoFiniteDiff case for {op!r}")


def _available(backend: str) -> bool:
    return adopt.check_available(getattr(adopt, backend)())


def dense_specs(*, backends: Sequence[str] = BACKENDS,
                operators: Sequence[str] = VECTOR_OPERATORS + MATRIX_OPERATORS + SCALAR_OPERATORS,
                sizes: Sequence[int] = DEFAULT_SIZES,
                matrix_sizes: Sequence[int] = DEFAULT_MATRIX_SIZES,
                numpy_input_n: int | None = 1000,
                fd_methods: Sequence[str] = ("central", "forward", "complex")) -> list[CaseSpec]:
    """The dense cases: every operator on every installed backend at its sizes.

    Vector operators (gradient, hvp, pushforward, pullback) run at ``sizes``; dense
    Jacobians and Hessians at ``matrix_sizes``; derivative and second derivative once at a
    scalar (``n = 1``). Finite differences run gradient (for each of ``fd_methods``),
    jacobian and derivative (central) at ``matrix_sizes`` (a gradient is 2n evaluations of f).
    ``numpy_input_n`` adds AutoJAX's gradient with a NumPy ``x`` at that size (None: not).
    """
    specs: list[CaseSpec] = []
    for backend in backends:
        if not _available(backend):
            continue
        if backend == "AutoFiniteDiff":
            specs += _fd_specs(operators, matrix_sizes, fd_methods)
            continue
        build = _jax_cases if backend == "AutoJAX" else _torch_cases
        for op in operators:
            ns = sizes if op in VECTOR_OPERATORS else matrix_sizes if op in MATRIX_OPERATORS else (1,)
            specs += [CaseSpec(op, backend, n, _bind(build, op, n)) for n in ns]
            if backend == "AutoJAX" and op == "gradient" and numpy_input_n:
                specs.append(CaseSpec("gradient (NumPy x)", backend, numpy_input_n,
                                      _bind(build, "gradient (NumPy x)", numpy_input_n)))
    return specs


def dense_skipped(*, backends: Sequence[str] = BACKENDS,
                  operators: Sequence[str] = VECTOR_OPERATORS + MATRIX_OPERATORS,
                  sizes: Sequence[int] = DEFAULT_SIZES,
                  matrix_sizes: Sequence[int] = DEFAULT_MATRIX_SIZES) -> list[Skipped]:
    """The sizes :func:`dense_specs` leaves out on purpose, with the reason (for the table)."""
    big = [n for n in sizes if n > DENSE_LIMIT and n not in matrix_sizes]
    out = []
    for backend in (b for b in backends if _available(b)):
        ops = [op for op in MATRIX_OPERATORS if op in operators]
        if backend == "AutoFiniteDiff":
            ops = [op for op in ("gradient", "jacobian") if op in operators]
        for op, n in ((op, n) for op in ops for n in big):
            if op in MATRIX_OPERATORS:
                why = f"a dense {n}×{n} float64 matrix is {n * n * 8 / 1e9:.3g} GB"
            else:
                why = f"finite differences need {2 * n} evaluations of f"
            out.append(Skipped(op, backend, n, why))
    return out


def _fd_specs(operators: Sequence[str], sizes: Sequence[int], methods: Sequence[str]) -> list[CaseSpec]:
    specs = []
    for op in ("gradient", "jacobian", "derivative"):
        if op not in operators:
            continue
        for method in methods if op == "gradient" else ("central",):
            name = "AutoFiniteDiff" if method == "central" else f"AutoFiniteDiff({method})"
            ns = (1,) if op == "derivative" else sizes
            specs += [CaseSpec(op, name, n, _bind(_fd_cases, op, n, method)) for n in ns]
    return specs


def _bind(build: Callable[..., Case], *args: Any) -> Callable[[], Case]:
    return lambda: build(*args)
