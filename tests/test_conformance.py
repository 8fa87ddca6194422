"""The public conformance suite (adopt.testing) crossed with every backend, plus the performance
contracts that a value comparison cannot see: no retracing, one batched call per batch of
tangents, and one function written against the array API running everywhere."""

from __future__ import annotations

import dataclasses
import re
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from array_api_compat import array_namespace

import adopt
from adopt import AutoFiniteDiff, AutoJAX, AutoTorch, Constant
from adopt.testing import all_scenarios, check_backend, default_scenarios, scenario_ids

ALL = all_scenarios()
SECOND_ORDER = [s for s in ALL if s.order == 2]
SCALAR_X = [s for s in default_scenarios() if np.ndim(s.x) == 0]


def _check(backend, scenario):
    """Every variant, unprepared, prepared and prepared twice, with the backend's own arrays
    and with NumPy arrays. On AutoJAX (a compilation per prep) the work is split so that each
    variant and preparation mode runs once: jax arrays cover the plain and value forms (a
    jax.Array cannot be an out= buffer), NumPy arrays the out= forms unprepared and everything
    prepared."""
    if isinstance(backend, AutoJAX):
        reports = [
            check_backend(backend, [scenario], input_kinds=("jax",)),
            check_backend(backend, [scenario], input_kinds=("numpy",), preparation=("none",),
                          variants=("out", "value_out")),
            check_backend(backend, [scenario], input_kinds=("numpy",),
                          preparation=("prepared", "prepared_twice")),
        ]
    else:
        reports = [check_backend(backend, [scenario])]
    if sum(r.checks for r in reports) == 0:
        pytest.skip("; ".join(s for r in reports for s in r.skipped))


@pytest.mark.parametrize("scenario", ALL, ids=scenario_ids)
def test_dense_backend(backend, scenario):
    _check(backend, scenario)


@pytest.mark.parametrize("scenario", SECOND_ORDER, ids=scenario_ids)
def test_second_order_backend(second_order_backend, scenario):
    b = second_order_backend
    if isinstance(b.outer, AutoJAX) or isinstance(b.inner, AutoJAX):
        # JAX compiles per prep: its own arrays only (NumPy input is covered by AutoJAX() above)
        report = check_backend(b, [scenario], input_kinds=("jax",))
    else:
        report = check_backend(b, [scenario])
    assert report.checks > 0


@pytest.mark.parametrize("scenario", SCALAR_X, ids=scenario_ids)
def test_python_float_input(backend, scenario):
    """A Python float x (scalar scenarios) gives NumPy float64 results on every backend."""
    report = check_backend(backend, [scenario], input_kinds=("float",),
                           preparation=("none",) if not isinstance(backend, AutoJAX) else ("prepared",),
                           variants=("plain", "value"))
    assert report.checks > 0


def test_check_backend_reports_wrong_results():
    """A wrong reference fails with a message naming scenario, operator, variant and preparation."""
    sc = next(s for s in default_scenarios() if s.operator == "gradient" and s.x.ndim == 1)
    bad = dataclasses.replace(sc, reference={**sc.reference, "gradient": sc.reference["gradient"] + 1})
    with pytest.raises(AssertionError, match=r"(?s)vector_to_scalar.*value_and_gradient.*"
                                             r"variant value_out, preparation prepared\)"):
        check_backend(AutoFiniteDiff(), [bad])


# ---- JAX: a prepared call never retraces -------------------------------------------------------

@pytest.mark.parametrize("kind", ["jax", "numpy"])
def test_jax_new_constant_values_do_not_retrace(kind):
    traces = []

    def f(x, a, s):
        traces.append(1)  # Python runs only while JAX traces
        return s * jnp.sum(a * jnp.sin(x))

    arr = jnp.asarray if kind == "jax" else np.asarray
    x, a = arr(np.linspace(0.1, 0.6, 5)), arr(np.arange(1.0, 6.0))
    prep = adopt.prepare_gradient(f, AutoJAX(), x, Constant(a), Constant(2.0))
    n = len(traces)
    for i in range(3):
        xi, ai, si = x + 0.1 * i, a * (i + 2), 0.5 + i
        g = adopt.gradient(f, AutoJAX(), xi, Constant(ai), Constant(si), prep=prep)
        v, g2 = adopt.value_and_gradient(f, AutoJAX(), xi, Constant(ai), Constant(si), prep=prep)
        want = si * np.asarray(ai) * np.cos(np.asarray(xi))
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(g2), want, rtol=1e-12)
    assert len(traces) == n, f"{len(traces) - n} retraces after preparation"


@pytest.mark.parametrize("operator", ["gradient", "jacobian", "hessian", "hvp", "pushforward", "pullback"])
def test_jax_prepared_calls_do_not_retrace(operator):
    traces = []

    def f(x):
        traces.append(1)
        y = jnp.sin(x) * x
        return jnp.sum(y) if operator in ("gradient", "hessian", "hvp") else y

    x = jnp.linspace(0.1, 0.6, 4)
    t = ((jnp.ones(4),),) if operator in ("hvp", "pushforward", "pullback") else ()
    prepare, run = getattr(adopt, f"prepare_{operator}"), getattr(adopt, operator)
    prep = prepare(f, AutoJAX(), x, *t)
    n = len(traces)
    results = [run(f, AutoJAX(), x + 0.1 * i, *t, prep=prep) for i in range(3)]
    assert len(traces) == n, f"{operator}: {len(traces) - n} retraces after preparation"
    assert not all(np.array_equal(np.asarray(results[0]), np.asarray(r)) for r in results[1:])


@pytest.mark.parametrize("kind", ["jax", "numpy"])
@pytest.mark.parametrize("operator", ["pushforward", "pullback", "hvp"])
def test_jax_same_point_preps_reuse_their_linearisation(operator, kind):
    """prepare_<op>_same_point(..., prep=earlier) at a new point traces nothing and is exact."""
    traces = []

    def f(x, c):
        traces.append(1)
        y = c * jnp.sin(x) * x
        return jnp.sum(y) if operator == "hvp" else y

    arr = jnp.asarray if kind == "jax" else np.asarray
    x0, t = np.linspace(0.1, 0.6, 4), np.array([1.0, -2.0, 0.5, 3.0])
    prepare, run = getattr(adopt, f"prepare_{operator}_same_point"), getattr(adopt, operator)
    prep = prepare(f, AutoJAX(), arr(x0), (arr(t),), Constant(2.0))
    n = len(traces)
    for i in range(1, 4):
        x = x0 + 0.1 * i
        prep = prepare(f, AutoJAX(), arr(x), (arr(t),), Constant(2.0), prep=prep)
        (got,) = run(f, AutoJAX(), arr(x), (arr(t),), Constant(2.0), prep=prep)
        d1 = 2.0 * (np.cos(x) * x + np.sin(x))
        d2 = 2.0 * (2 * np.cos(x) - np.sin(x) * x)
        np.testing.assert_allclose(np.asarray(got), (d2 if operator == "hvp" else d1) * t, rtol=1e-12)
    assert len(traces) == n, f"{len(traces) - n} traces at new points"
    with pytest.raises(adopt.PreparationMismatchError, match="prep was made for shape"):
        prepare(f, AutoJAX(), arr(np.ones(5)), (arr(np.ones(5)),), Constant(2.0), prep=prep)


# ---- a batch of k tangents is one call, not k ----------------------------------------------------

def _counting(fn):
    calls = []

    def f(x):
        calls.append(tuple(x.shape))
        return fn(x)

    return f, calls


@pytest.mark.parametrize("ad", [AutoJAX(), AutoTorch()], ids=["AutoJAX", "AutoTorch"])
def test_batched_pushforward_calls_f_independently_of_k(ad):
    backend = ad
    arr = jnp.asarray if isinstance(backend, AutoJAX) else torch.as_tensor
    lib = jnp if isinstance(backend, AutoJAX) else torch
    x = arr(np.linspace(0.1, 0.9, 4))
    counts = {}
    for k in (1, 3):
        f, calls = _counting(lambda x: lib.sin(x) * x)
        tx = tuple(arr(np.eye(4)[i]) for i in range(k))
        adopt.pushforward(f, backend, x, tx)
        prep = adopt.prepare_pushforward(f, backend, x, tx)
        before = len(calls)
        res = adopt.pushforward(f, backend, x, tx, prep=prep)
        counts[k] = (before, len(calls) - before)
        want = np.cos(np.asarray(x)) * np.asarray(x) + np.sin(np.asarray(x))
        for i in range(k):
            np.testing.assert_allclose(np.asarray(res[i]), want * np.eye(4)[i], rtol=1e-12)
    assert counts[3] == counts[1], f"calls of f (unprepared + prepare, prepared call) by k: {counts}"
    assert counts[3][1] <= 1, f"a prepared batched pushforward called f {counts[3][1]} times"


@pytest.mark.parametrize("method,sides", [("central", 2), ("forward", 1)])
def test_vectorized_finite_differences_call_f_once_per_side(method, sides):
    backend = AutoFiniteDiff(method=method, vectorized=True)
    f, calls = _counting(lambda x: np.sin(x) * x)
    x = np.linspace(0.1, 0.9, 4)
    tx = tuple(np.eye(4)[:3])
    prep = adopt.prepare_pushforward(f, backend, x, tx)
    calls.clear()
    res = adopt.pushforward(f, backend, x, tx, prep=prep)
    assert calls == [(4,)] + [(3, 4)] * sides  # f(x), then one batched call per side
    want = np.cos(x) * x + np.sin(x)
    for i in range(3):
        np.testing.assert_allclose(res[i], want * np.eye(4)[i], rtol=1e-4, atol=1e-6)


# ---- one function, written once against the array API, on every backend and array type ----------

def _f_array_api(x):
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) * x**2) + 0.5 * xp.sum(x[:-1] * x[1:])


_X = np.array([0.5, -0.8, 1.1, 0.3])
_KINDS = {"numpy": np.asarray, "jax": jnp.asarray, "torch": torch.as_tensor}
_TYPES = {"numpy": np.ndarray, "jax": jax.Array, "torch": torch.Tensor}


@pytest.mark.parametrize("kind", list(_KINDS))
@pytest.mark.parametrize("backend_", [AutoJAX(), AutoTorch(), AutoFiniteDiff()],
                         ids=["AutoJAX", "AutoTorch", "FD-central"])
def test_array_api_function_runs_everywhere(backend_, kind):
    backend = backend_
    want = 2 * _X * np.sin(_X) + _X**2 * np.cos(_X)
    want[:-1] += 0.5 * _X[1:]
    want[1:] += 0.5 * _X[:-1]
    g = adopt.gradient(_f_array_api, backend, _KINDS[kind](_X))
    assert isinstance(g, _TYPES[kind]), f"{kind} in gave {type(g).__name__} out"
    assert str(g.dtype).endswith("float64")
    tol = 1e-6 if isinstance(backend, AutoFiniteDiff) else 1e-12
    np.testing.assert_allclose(np.asarray(g), want, rtol=tol, atol=tol)


# ---- misuse: every case gives the right answer or a clear error, on every backend --------------

MISUSE_BACKENDS = [
    AutoJAX(), AutoTorch(), AutoFiniteDiff(), AutoFiniteDiff(method="forward"),
    AutoFiniteDiff(method="complex"),
    adopt.AutoSparse(AutoJAX()), adopt.AutoSparse(AutoTorch()), adopt.AutoSparse(AutoFiniteDiff()),
    adopt.SecondOrder(AutoJAX(mode="forward"), AutoJAX(mode="reverse")),
    adopt.SecondOrder(AutoTorch(mode="reverse"), AutoTorch(mode="forward")),
    adopt.SecondOrder(AutoFiniteDiff(), AutoTorch()),
]


@pytest.mark.parametrize("backend_", MISUSE_BACKENDS, ids=repr)
@pytest.mark.parametrize("case", list(adopt.testing.MISUSE_CASES))
def test_misuse(backend_, case):
    report = adopt.testing.check_misuse(backend_, cases=[case])
    assert report.checks + len(report.skipped) >= 1
    for reason in report.skipped:  # only the documented reasons
        assert re.search("SecondOrder serves|jax.Array cannot|complex step", reason), reason


def test_finite_difference_gradient_memory_is_linear():
    """n = 20000: no n x n basis or perturbed batch (the old path peaked at 9.8 GB)."""
    n = 20000
    x = np.linspace(-1.0, 1.0, n)
    f = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)  # noqa: E731
    prep = adopt.prepare_gradient(f, AutoFiniteDiff(method="forward"), x)
    tracemalloc.start()
    g = adopt.gradient(f, AutoFiniteDiff(method="forward"), x, prep=prep)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * n * 8, f"peak {peak / 1e6:.1f} MB for n = {n}"
    want = np.zeros(n)
    want[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    want[1:] += 200 * (x[1:] - x[:-1] ** 2)
    rounding = 4 * np.finfo(float).eps * abs(f(x)) / np.sqrt(np.finfo(float).eps)  # eps |f| / h
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=rounding)


def _peak(fn):
    tracemalloc.start()
    try:
        res = fn()
        return res, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sparse_finite_difference_hessian_memory_is_linear_in_nonzeros():
    """A star-colored FD Hessian of chained Rosenbrock: memory O(nnz), not O(n²) (the old path
    built an n x n basis of perturbed points: 74.5 GiB at n = 10⁵)."""
    f = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)  # noqa: E731
    b = adopt.AutoSparse(AutoFiniteDiff())
    adopt.hessian(f, b, np.ones(10))  # one-time imports and caches out of the measurement,
    adopt.prepare_hessian(f, b, np.ones(6000))  # numba's loops too (patterns of 10⁴+ nonzeros)
    peaks = {}
    for n in (1000, 4000):
        x = np.linspace(-1.0, 1.0, n)
        (prep, H), peaks[n] = _peak(lambda: (p := adopt.prepare_hessian(f, b, x), adopt.hessian(f, b, x, prep=p)))
        assert adopt.ncolors(prep) == 3
        d = np.zeros(n)
        d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
        d[1:] += 200
        np.testing.assert_allclose(H.diagonal(), d, rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(H.diagonal(1), -400 * x[:-1], rtol=1e-4, atol=1e-2)
    assert peaks[4000] < 5 * peaks[1000], f"peak memory grows faster than n: {peaks}"
    assert peaks[4000] < 2000 * 4000, f"{peaks[4000] / 4000:.0f} bytes per variable"
