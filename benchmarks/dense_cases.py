"""The dense benchmark cases: every operator of every backend, adopt against the bare framework.

:func:`dense_specs` builds the cases ``benchmarks/run.py`` times (the prepared adopt call and
the bare framework doing the same work: ``jax.jit(jax.grad(f))``, eager ``torch.autograd`` and
``torch.func``, SciPy's ``approx_derivative``); :func:`dense_skipped` lists the sizes left out
on purpose. The harness (``_harness.py``) runs and writes them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import adopt
from _harness import Case, CaseSpec, Skipped

__all__ = ["dense_specs", "dense_skipped", "DENSE_NOTES", "DEFAULT_SIZES", "DEFAULT_MATRIX_SIZES",
           "VECTOR_OPERATORS", "MATRIX_OPERATORS", "SCALAR_OPERATORS", "BACKENDS"]

#: sizes of x for gradient, hvp, pushforward and pullback
DEFAULT_SIZES: tuple[int, ...] = (10, 1000, 100_000)
#: sizes of x for dense Jacobians and Hessians (n = 100000 would be an 80 GB matrix)
DEFAULT_MATRIX_SIZES: tuple[int, ...] = (10, 100, 1000)
#: dense Jacobians, Hessians and finite-difference gradients run up to this size by default
DENSE_LIMIT = 1000
VECTOR_OPERATORS = ("gradient", "hvp", "pushforward", "pullback")
#: the suffix of a case whose prep is made with strict=False (no per-call check)
STRICT_FALSE = " (strict=False)"
MATRIX_OPERATORS = ("jacobian", "hessian")
SCALAR_OPERATORS = ("derivative", "second_derivative")
BACKENDS = ("AutoJAX", "AutoTorch", "AutoFiniteDiff")


DENSE_NOTES = (
    "Times are microseconds per prepared call: the median over interleaved blocks (adopt and "
    "the baselines alternate), each block at least 20 ms of calls; ratio = adopt / bare of the "
    "medians, min ratio = the same of the fastest blocks, paired ratio = the median over rounds of "
    "adopt / bare within each round (the least sensitive to a machine whose speed drifts).",
    "Preparation (tracing, jit compilation) is not timed. JAX outputs are waited for "
    "(`.block_until_ready()`) inside the timed loop on both sides.",
    "Preps are strict (the default: every call checks f, the backend, and the type, shape and "
    "dtype of x, the tangents and the contexts); the rows marked (strict=False) time the same "
    "call with a prep made with strict=False, which skips that check.",
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


def _strictness(op: str) -> tuple[str, bool]:
    """``"hvp (strict=False)"`` -> ``("hvp", False)``: the case with a prep that skips the
    per-call check of x, the tangents and the contexts."""
    return (op.removesuffix(STRICT_FALSE), False) if op.endswith(STRICT_FALSE) else (op, True)


def _jax_cases(op: str, n: int) -> Case:
    import jax
    import jax.numpy as jnp

    op, strict = _strictness(op)

    f, g, h = _test_functions(jnp)

    be = adopt.AutoJAX()
    xn, vn = _point(n)
    x, v = jnp.asarray(xn), jnp.asarray(vn)
    t = jnp.asarray(0.7)
    to_np = np.asarray
    if op == "gradient":
        prep, bare = adopt.prepare_gradient(f, be, x, strict=strict), jax.jit(jax.grad(f))
        return Case(lambda: adopt.gradient(f, be, x, prep=prep).block_until_ready(),
                    {"jax.jit(jax.grad(f))": lambda: bare(x).block_until_ready()}, to_np)
    if op == "gradient (NumPy x)":
        prep, bare = adopt.prepare_gradient(f, be, xn, strict=strict), jax.jit(jax.grad(f))
        return Case(lambda: adopt.gradient(f, be, xn, prep=prep),
                    {"np.asarray(jax.jit(jax.grad(f))(jnp.asarray(x)))": lambda: np.asarray(bare(jnp.asarray(xn)))},
                    to_np)
    if op == "jacobian":
        prep = adopt.prepare_jacobian(g, be, x, strict=strict)
        mode = prep.info["mode"]
        bare = jax.jit(jax.jacfwd(g) if mode == "forward" else jax.jacrev(g))
        name = "jax.jit(jax.jacfwd(g))" if mode == "forward" else "jax.jit(jax.jacrev(g))"
        return Case(lambda: adopt.jacobian(g, be, x, prep=prep).block_until_ready(),
                    {name: lambda: bare(x).block_until_ready()}, to_np)
    if op == "hvp":
        prep = adopt.prepare_hvp(f, be, x, (v,), strict=strict)
        bare = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        return Case(lambda: adopt.hvp(f, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jvp(grad(f)))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "hessian":
        prep, bare = adopt.prepare_hessian(f, be, x, strict=strict), jax.jit(jax.hessian(f))
        return Case(lambda: adopt.hessian(f, be, x, prep=prep).block_until_ready(),
                    {"jax.jit(jax.hessian(f))": lambda: bare(x).block_until_ready()}, to_np)
    if op == "pushforward":
        prep = adopt.prepare_pushforward(g, be, x, (v,), strict=strict)
        bare = jax.jit(lambda x, v: jax.jvp(g, (x,), (v,))[1])
        return Case(lambda: adopt.pushforward(g, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jax.jvp(g))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "pullback":
        prep = adopt.prepare_pullback(g, be, x, (v,), strict=strict)
        bare = jax.jit(lambda x, w: jax.vjp(g, x)[1](w)[0])
        return Case(lambda: adopt.pullback(g, be, x, (v,), prep=prep)[0].block_until_ready(),
                    {"jax.jit(jax.vjp(g))": lambda: bare(x, v).block_until_ready()}, to_np)
    if op == "derivative":
        prep, bare = adopt.prepare_derivative(h, be, t, strict=strict), jax.jit(jax.grad(h))
        return Case(lambda: adopt.derivative(h, be, t, prep=prep).block_until_ready(),
                    {"jax.jit(jax.grad(h))": lambda: bare(t).block_until_ready()}, to_np)
    if op == "second_derivative":
        prep, bare = adopt.prepare_second_derivative(h, be, t, strict=strict), jax.jit(jax.grad(jax.grad(h)))
        return Case(lambda: adopt.second_derivative(h, be, t, prep=prep).block_until_ready(),
                    {"jax.jit(grad(grad(h)))": lambda: bare(t).block_until_ready()}, to_np)
    raise ValueError(f"no AutoJAX case for {op!r}")


def _torch_cases(op: str, n: int) -> Case:
    import torch
    from torch import func as tf
    from torch.autograd import forward_ad as fwad

    op, strict = _strictness(op)

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
        prep, fg = adopt.prepare_gradient(f, be, x, strict=strict), tf.grad(f)
        return Case(lambda: adopt.gradient(f, be, x, prep=prep),
                    {"torch.autograd.grad": lambda: grad(f, x), "torch.func.grad": lambda: fg(x)}, to_np)
    if op == "jacobian":
        prep = adopt.prepare_jacobian(g, be, x, strict=strict)
        fwd = prep.info["mode"] == "forward"
        fj = tf.jacfwd(g) if fwd else tf.jacrev(g)
        strategy = "forward-mode" if fwd else "reverse-mode"
        return Case(lambda: adopt.jacobian(g, be, x, prep=prep),
                    {f"torch.func.{'jacfwd' if fwd else 'jacrev'}": lambda: fj(x),
                     f"torch.autograd.functional.jacobian({strategy}, vectorize)":
                         lambda: torch.autograd.functional.jacobian(g, x, vectorize=True, strategy=strategy)},
                    to_np)
    if op == "hvp":
        prep, fg = adopt.prepare_hvp(f, be, x, (v,), strict=strict), tf.grad(f)
        return Case(lambda: adopt.hvp(f, be, x, (v,), prep=prep)[0],
                    {"eager double backward": lambda: hvp_eager(f, x, v),
                     "torch.func.jvp(grad(f))": lambda: tf.jvp(fg, (x,), (v,))[1]}, to_np)
    if op == "hessian":
        prep, fh, eye = adopt.prepare_hessian(f, be, x, strict=strict), tf.hessian(f), torch.eye(n, dtype=x.dtype)
        return Case(lambda: adopt.hessian(f, be, x, prep=prep),
                    {"torch.func.hessian": lambda: fh(x),
                     "eager double backward, batched": lambda: hvp_eager(f, x, eye, is_grads_batched=True)},
                    to_np)
    if op == "pushforward":
        prep = adopt.prepare_pushforward(g, be, x, (v,), strict=strict)
        return Case(lambda: adopt.pushforward(g, be, x, (v,), prep=prep)[0],
                    {"torch.func.jvp": lambda: tf.jvp(g, (x,), (v,))[1],
                     "eager forward_ad dual": lambda: jvp_eager(x, v)}, to_np)
    if op == "pullback":
        prep = adopt.prepare_pullback(g, be, x, (v,), strict=strict)
        return Case(lambda: adopt.pullback(g, be, x, (v,), prep=prep)[0],
                    {"torch.autograd.grad": lambda: grad(g, x, v),
                     "torch.func.vjp": lambda: tf.vjp(g, x)[1](v)[0]}, to_np)
    if op == "derivative":
        prep, fg = adopt.prepare_derivative(h, be, t, strict=strict), tf.grad(h)
        return Case(lambda: adopt.derivative(h, be, t, prep=prep),
                    {"torch.autograd.grad": lambda: grad(h, t), "torch.func.grad": lambda: fg(t)}, to_np)
    if op == "second_derivative":
        prep, fgg = adopt.prepare_second_derivative(h, be, t, strict=strict), tf.grad(tf.grad(h))
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
    ``numpy_input_n`` adds, at that size, AutoJAX's gradient with a NumPy ``x`` and every vector
    operator with a ``strict=False`` prep (None: neither).
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
            if op in VECTOR_OPERATORS and numpy_input_n:   # the same prep without the strict check
                specs.append(CaseSpec(op + STRICT_FALSE, backend, numpy_input_n,
                                      _bind(build, op + STRICT_FALSE, numpy_input_n)))
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
