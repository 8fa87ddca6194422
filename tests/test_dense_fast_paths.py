"""The cheap paths of prepared calls give the results (and the errors) of the general ones.

Prepared calls take shortcuts in the common case: out= buffers of the result's own type, shape
and dtype are written without the full check; same-point checks compare values in one pass and
look at NaNs only when that fails; eager PyTorch runs one tangent unbatched and evaluates f once
per Hessian; strict JAX preps run JAX's executable for exactly their arguments and are checked
while it computes. Each test here checks a shortcut against a reference (a closed form, the general
path) and checks that what the shortcut skips is still refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import adopt
from adopt import PreparationMismatchError

X = np.array([0.5, -1.0, 2.0])
T = np.array([1.0, 0.5, -2.0])


def cube(x):
    return (x**3).sum()


def double(x):
    return 2.0 * x


def cubic(t):
    return t**3


def _arr(kind, a):
    return torch.tensor(a, dtype=torch.float64) if kind == "torch" else np.array(a, dtype=float)


def _np(a):
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_out_buffer_of_the_result_type_is_written_and_others_refused(kind):
    backend = adopt.AutoTorch() if kind == "torch" else adopt.AutoFiniteDiff()
    x = _arr(kind, X)
    prep = adopt.prepare_gradient(cube, backend, x)
    out = _arr(kind, np.full(3, np.nan))
    got = adopt.gradient(cube, backend, x, prep=prep, out=out)
    assert got is out
    np.testing.assert_allclose(_np(out), 3 * X**2, rtol=1e-6)
    narrow = out.to(torch.float32) if kind == "torch" else out.astype(np.float32)
    with pytest.raises(TypeError, match="downcast"):
        adopt.gradient(cube, backend, x, prep=prep, out=narrow)
    with pytest.raises(ValueError, match="shape"):
        adopt.gradient(cube, backend, x, prep=prep, out=_arr(kind, np.zeros(4)))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_same_point_prep_at_nan_accepts_the_same_values_and_refuses_others(kind):
    # backends that linearise once (JAX takes the NumPy x, PyTorch keeps its graph) and check
    # the point on every call
    backend = adopt.AutoTorch() if kind == "torch" else adopt.AutoJAX()
    x0 = np.array([0.5, np.nan, 2.0])
    x, t = _arr(kind, x0), _arr(kind, T)
    prep = adopt.prepare_pullback_same_point(double, backend, x, (t,))
    assert "same_point" in prep.info
    (vjp,) = adopt.pullback(double, backend, _arr(kind, x0), (t,), prep=prep)
    np.testing.assert_allclose(_np(vjp), 2.0 * T)
    moved = x0.copy()
    moved[0] = 0.25
    with pytest.raises(PreparationMismatchError, match="other values"):
        adopt.pullback(double, backend, _arr(kind, moved), (t,), prep=prep)


class Counted:
    """``cube`` counting its evaluations."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return (x**3).sum()


def test_torch_hessian_and_hvp_evaluate_f_once_per_call():
    x, t = torch.tensor(X), torch.tensor(T)
    f = Counted()
    prep_h = adopt.prepare_hessian(f, adopt.AutoTorch(), x)
    prep_v = adopt.prepare_hvp(f, adopt.AutoTorch(), x, (t,))
    f.calls = 0
    y, g, H = adopt.value_gradient_and_hessian(f, adopt.AutoTorch(), x, prep=prep_h)
    assert f.calls == 1
    np.testing.assert_allclose(H.numpy(), np.diag(6 * X))
    np.testing.assert_allclose(g.numpy(), 3 * X**2)
    assert float(y) == pytest.approx(float((X**3).sum()))
    f.calls = 0
    g1, (hv,) = adopt.gradient_and_hvp(f, adopt.AutoTorch(), x, (t,), prep=prep_v)
    assert f.calls == 1
    np.testing.assert_allclose(hv.numpy(), 6 * X * T)
    np.testing.assert_allclose(g1.numpy(), 3 * X**2)
    assert not hv.requires_grad and not g1.requires_grad and not H.requires_grad


def test_torch_hvp_of_a_linear_function_is_zero_with_one_tangent():
    x, t = torch.tensor(X), torch.tensor(T)
    (hv,) = adopt.hvp(lambda x: (2.0 * x).sum(), adopt.AutoTorch(), x, (t,))
    np.testing.assert_array_equal(hv.numpy(), np.zeros(3))


@pytest.mark.parametrize("kind", ["jax", "torch", "numpy"])
def test_derivative_prepared_at_one_point_called_at_another(kind):
    backend = {"jax": adopt.AutoJAX(), "torch": adopt.AutoTorch(), "numpy": adopt.AutoFiniteDiff()}[kind]
    if kind == "jax":
        import jax.numpy as jnp

        t0, t1 = jnp.asarray(0.5), jnp.asarray(1.5)
    else:
        t0, t1 = _arr(kind, 0.5), _arr(kind, 1.5)
    prep = adopt.prepare_derivative(cubic, backend, t0)
    y, d = adopt.value_and_derivative(cubic, backend, t1)
    y2, d2 = adopt.value_and_derivative(cubic, backend, t1, prep=prep)
    for yy, dd in ((y, d), (y2, d2)):
        assert float(_np(yy)) == pytest.approx(1.5**3)
        assert float(_np(dd)) == pytest.approx(3 * 1.5**2, rel=1e-6)


def _roll_mix(x):
    return torch.sin(x) * x + torch.roll(x, 1) * torch.cos(x)


class _OldStyleSquare(torch.autograd.Function):
    """A custom Function in the old style (ctx in forward, no setup_context): autograd takes
    it, torch.func refuses it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2.0 * x * g


def _old_style(x):
    return _OldStyleSquare.apply(x) * torch.roll(x, 1)


@pytest.mark.parametrize("f", [_roll_mix, _old_style])
@pytest.mark.parametrize("n", [3, 100])
def test_torch_reverse_jacobian_batched_either_way(f, n):
    # batches of FUNC_PULLBACK_BATCH cotangents and more go through torch.func's vmap(vjp),
    # smaller ones through autograd's batched backward; a function torch.func cannot take
    # falls back. Prepared at one point, run at another, against autograd's own Jacobian.
    from adopt.backends.torch import FUNC_PULLBACK_BATCH

    assert (n >= FUNC_PULLBACK_BATCH) == (n == 100)
    b = adopt.AutoTorch(mode="reverse")
    x0, x = (torch.linspace(0.5, 1.5, n, dtype=torch.float64) * s for s in (1.0, 1.3))
    J = adopt.jacobian(f, b, x, prep=adopt.prepare_jacobian(f, b, x0))
    torch.testing.assert_close(J, torch.autograd.functional.jacobian(f, x), rtol=1e-13, atol=1e-13)
    y, T = adopt.value_and_pullback(f, b, x, tuple(torch.eye(n, dtype=torch.float64)),
                                    prep=adopt.prepare_pullback(f, b, x0, tuple(torch.eye(n, dtype=torch.float64))))
    torch.testing.assert_close(torch.stack(T), J)   # row i: the pullback of e_i
    torch.testing.assert_close(y, f(x))


# ---- strict JAX preps are checked while the computation runs ------------------------------------
def _jax_preps(f, x, t, strict=True):
    import jax.numpy as jnp

    b = adopt.AutoJAX()

    def scalar(x):
        return jnp.sum(f(x) ** 2)

    return {
        "gradient": (adopt.prepare_gradient(scalar, b, x, strict=strict),
                     lambda x, p: adopt.gradient(scalar, b, x, prep=p)),
        "jacobian": (adopt.prepare_jacobian(f, b, x, strict=strict),
                     lambda x, p: adopt.jacobian(f, b, x, prep=p)),
        "hessian": (adopt.prepare_hessian(scalar, b, x, strict=strict),
                    lambda x, p: adopt.value_gradient_and_hessian(scalar, b, x, prep=p)),
        "pushforward": (adopt.prepare_pushforward(f, b, x, (t,), strict=strict),
                        lambda x, p: adopt.value_and_pushforward(f, b, x, (t,), prep=p)),
        "pullback": (adopt.prepare_pullback(f, b, x, (t, t), strict=strict),
                     lambda x, p: adopt.pullback(f, b, x, (t, t), prep=p)),
        "hvp": (adopt.prepare_hvp(scalar, b, x, (t,), strict=strict),
                lambda x, p: adopt.hvp(scalar, b, x, (t,), prep=p)),
    }


def _flat(r):
    return [np.asarray(a) for a in (r if isinstance(r, tuple) else (r,)) for a in (a if isinstance(a, tuple) else (a,))]


def test_strict_jax_preps_run_exact_executables_and_refuse_other_arguments_without_tracing():
    import jax.numpy as jnp

    from adopt.testing import record_operators

    traced = []

    def f(x):
        traced.append(x.shape)
        return jnp.sin(x) * x

    x, t = jnp.asarray(X), jnp.asarray(T)
    jitted = _jax_preps(f, x, t, strict=False)  # the reference: jax.jit, checked before the call
    preps = _jax_preps(f, x, t)
    before = len(traced)
    for name, (prep, call) in preps.items():
        assert prep.check_after_run and not jitted[name][0].check_after_run, name
        with record_operators() as counts:
            got = call(x, prep)
        assert counts[prep.operator] == 1
        want = jitted[name][1](x, jitted[name][0])
        for a, b in zip(_flat(got), _flat(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
        for other in (jnp.ones(4), jnp.asarray(X, dtype=jnp.float32), X):
            with pytest.raises(PreparationMismatchError, match=f"{name}"):
                call(other, prep)
    assert len(traced) == before  # neither the calls nor the refused ones traced f again


def test_weakly_typed_input_runs_on_the_exact_executable():
    import jax.numpy as jnp

    prep = adopt.prepare_gradient(cube, adopt.AutoJAX(), jnp.asarray(X))
    x = jnp.full(3, 2.0)  # weakly typed float64
    np.testing.assert_allclose(adopt.gradient(cube, adopt.AutoJAX(), x, prep=prep), 3 * 4.0 * np.ones(3))


@pytest.mark.parametrize("how", ["numpy x", "strict=False", "sparse"])
def test_other_jax_preps_are_checked_before_the_call(how):
    import jax.numpy as jnp

    b = adopt.AutoJAX()
    if how == "numpy x":
        prep = adopt.prepare_gradient(cube, b, X)
    elif how == "strict=False":
        prep = adopt.prepare_gradient(cube, b, jnp.asarray(X), strict=False)
    else:
        prep = adopt.prepare_jacobian(double, adopt.AutoSparse(b), jnp.asarray(X))
    assert not prep.check_after_run


DEVICES = """
import jax, jax.numpy as jnp, numpy as np, adopt
jax.config.update("jax_enable_x64", True)
b = adopt.AutoJAX()
x = jnp.asarray([0.5, -1.0, 2.0])
f = lambda x: jnp.sum(x**3)
prep = adopt.prepare_gradient(f, b, x)
other = jax.device_put(x, jax.devices()[1])
try:
    adopt.gradient(f, b, other, prep=prep)
except ValueError as e:
    print("refused", any("jax.device_put" in n and "gradient with AutoJAX" in n for n in e.__notes__))
loose = adopt.prepare_gradient(f, b, x, strict=False)
print("loose", np.allclose(adopt.gradient(f, b, other, prep=loose), 3 * np.asarray(x) ** 2))
"""


def test_arrays_on_another_device_are_refused_with_the_fix():
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", DEVICES], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["refused", "True", "loose", "True"]


def _sig_cases():
    """(name, backend, f, x, tangent or None): preps whose strict check is a closure over their
    signature (one x, at most one tangent, no contexts, no y)."""
    import jax.numpy as jnp

    xt, tt, xj, tj = torch.tensor(X), torch.tensor(T), jnp.asarray(X), jnp.asarray(T)
    fd, tb, jb = adopt.AutoFiniteDiff(), adopt.AutoTorch(), adopt.AutoJAX()
    return [("numpy gradient", fd, cube, X, None), ("torch gradient", tb, cube, xt, None),
            ("numpy pushforward", fd, double, X, T), ("torch pushforward", tb, double, xt, tt),
            ("torch hvp", tb, cube, xt, tt), ("jax gradient", jb, cube, xj, None),
            ("jax pullback", jb, double, xj, tj)]


def _variants(f, b, x, t):
    """Calls (f, backend, x, contexts, tangents, y) around the preparation's, one change each."""
    if isinstance(x, torch.Tensor):
        other, f32, foreign = torch.ones(4, dtype=torch.float64), x.float(), np.asarray(x)
    else:  # NumPy or JAX
        other, f32, foreign = x[:2], x.astype(np.float32), torch.tensor(np.asarray(x))
    tangents = None if t is None else (t,)
    calls = [("match", (f, b, x, (), tangents, None)), ("other f", (cubic, b, x, (), tangents, None)),
             ("equal backend", (f, type(b)(), x, (), tangents, None)),
             ("x shape", (f, b, other, (), tangents, None)), ("x dtype", (f, b, f32, (), tangents, None)),
             ("x type", (f, b, foreign, (), tangents, None)),
             ("a context", (f, b, x, (adopt.Constant(1.0),), tangents, None)),
             ("y", (f, b, x, (), tangents, np.zeros(3)))]
    if t is None:
        return calls + [("tangents", (f, b, x, (), (x,), None))]
    return calls + [("no tangents", (f, b, x, (), None, None)), ("list", (f, b, x, (), [t], None)),
                    ("two", (f, b, x, (), (t, t), None)), ("t shape", (f, b, x, (), (other,), None)),
                    ("t dtype", (f, b, x, (), (f32,), None)), ("t type", (f, b, x, (), (foreign,), None))]


@pytest.mark.parametrize("name, backend, f, x, t", _sig_cases(), ids=[c[0] for c in _sig_cases()])
def test_signature_closure_of_the_strict_check_agrees_with_the_general_check(name, backend, f, x, t):
    from adopt._prep import Prep

    op = name.split()[1]
    prepare = getattr(adopt, f"prepare_{op}")
    prep = prepare(f, backend, x) if t is None else prepare(f, backend, x, (t,))
    assert "matches" in vars(prep)  # the closure, not the general method
    for what, call in _variants(f, backend, x, t):
        want = Prep.matches(prep, *call)
        assert prep.matches(*call) is want, what
        assert want is (what == "match"), what
    general = (adopt.prepare_pushforward(double, backend, x, (x, x)) if t is not None
               else prepare(lambda x, c: f(x) * c, backend, x, adopt.Constant(2.0)))
    assert "matches" not in vars(general)  # two tangents, or a context: the general method


def test_torch_pushforward_leaves_no_dual_level_open_when_f_raises():
    import torch.autograd.forward_ad as fwAD

    def f(x):
        if (x > 2.5).any():
            raise ValueError("f refuses large x")
        return 2.0 * x

    b, x, t = adopt.AutoTorch(), torch.tensor(X), torch.tensor(T)
    prep = adopt.prepare_pushforward(f, b, x, (t,))
    with pytest.raises(ValueError, match="f refuses large x"):
        adopt.pushforward(f, b, x + 1.0, (t,), prep=prep)
    assert fwAD._current_level == -1
    (ty,) = adopt.pushforward(f, b, x, (t,), prep=prep)
    np.testing.assert_array_equal(ty.numpy(), 2.0 * T)
