"""The sparse pipeline's costs: arrays passed to the compiled call, structure shared by results,
primal evaluations of a prepared PyTorch call, and the color batch sharded over devices."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adopt

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
import jax.numpy as jnp  # noqa: E402
from adopt._autosparse import prepare as prepare_module  # noqa: E402
from adopt.backends.jax import JaxImpl  # noqa: E402


def chain(x):
    """A chained function: its Jacobian and the Hessian of its sum need 3 colors."""
    return x[1:-1] ** 2 * x[2:] - x[:-2] * x[1:-1] + x[1:-1] ** 3


def chain_sum(x):
    return chain(x).sum()


def _constants(monkeypatch, prepare, f, backend, n, element="i(?:32|64)"):
    """The largest constant of type ``element`` (integer by default) of every function a prep
    compiles (StableHLO), at size n."""
    calls = []
    compile_ = JaxImpl.compile

    def recording(self, fn, static=()):
        jitted = compile_(self, fn, static)

        def call(*args):
            calls.append((jitted, args))
            return jitted(*args)

        def lower(*args):  # a prep compiles ahead, without a call
            calls.append((jitted, args))
            return jitted.lower(*args)

        call.lower = lower
        return call

    monkeypatch.setattr(JaxImpl, "compile", recording)
    prepare(f, backend, np.linspace(0.5, 1.5, n))
    monkeypatch.undo()
    sizes = []
    for jitted, args in calls:
        text = jitted.lower(*args).as_text()
        shapes = re.findall(rf"constant.*: tensor<([\dx]*)x{element}>", text)
        sizes.append(max((math.prod(map(int, s.split("x"))) for s in shapes), default=0))
    return sizes


def arrow(x):
    """An arrowhead Jacobian (a dense row, a dense column, the diagonal): a bicoloring needs
    forward and reverse products."""
    return jnp.concatenate([jnp.sum(x**2)[None], x[1:] * x[0] + x[1:] ** 2])


CASES = {
    "jacobian-forward": (adopt.prepare_jacobian, chain, adopt.AutoSparse(adopt.AutoJAX())),
    "jacobian-reverse": (adopt.prepare_jacobian, chain, adopt.AutoSparse(adopt.AutoJAX(mode="reverse"))),
    "hessian-star": (adopt.prepare_hessian, chain_sum, adopt.AutoSparse(adopt.AutoJAX())),
    "hessian-acyclic": (adopt.prepare_hessian, chain_sum, adopt.AutoSparse(
        adopt.AutoJAX(), coloring=adopt.GreedyColoring(symmetric="acyclic"), triangle="lower")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_index_maps_are_arguments_of_the_compiled_call(monkeypatch, case):
    # above MAPS_AS_CONSTANTS entries (a Hessian's always), captured, the maps (10⁴ entries at
    # n = 5000) would be integer constants of the program (a Jacobian's small seeds stay float
    # constants: XLA specialises the products)
    monkeypatch.setattr(prepare_module, "MAPS_AS_CONSTANTS", {"jacobian": 0, "hessian": 0})
    sizes = _constants(monkeypatch, *CASES[case], 5000)
    assert len(sizes) == 1 and sizes[0] < 100


@pytest.mark.parametrize("case", ["jacobian-forward", "jacobian-reverse"])
def test_small_jacobian_maps_are_constants_with_the_same_values(monkeypatch, case):
    # up to MAPS_AS_CONSTANTS entries a Jacobian's maps are constants (XLA compiles gathers
    # over constant indices into cheaper code), and the values are those of maps as arguments
    prepare, f, backend = CASES[case]
    assert max(_constants(monkeypatch, prepare, f, backend, 5000)) >= 5000
    b, x = dataclasses.replace(backend, format="values"), jnp.linspace(0.5, 1.5, 5000)
    constant = adopt.jacobian(f, b, x, prep=prepare(f, b, x))
    monkeypatch.setattr(prepare_module, "MAPS_AS_CONSTANTS", {"jacobian": 0, "hessian": 0})
    np.testing.assert_array_equal(adopt.jacobian(f, b, x, prep=prepare(f, b, x)), constant)


LARGE_SEEDS = {**CASES, "jacobian-mixed": (adopt.prepare_jacobian, arrow, adopt.AutoSparse(
    adopt.MixedMode(adopt.AutoJAX(mode="forward"), adopt.AutoJAX(mode="reverse"))))}


@pytest.mark.parametrize("case", list(LARGE_SEEDS))
def test_large_seeds_are_arguments_of_the_compiled_call(monkeypatch, case):
    # above SEEDS_AS_CONSTANTS entries the seeds are not (float) constants of the compiled
    # call; it gives the values of the call with constant seeds
    prepare, f, backend = LARGE_SEEDS[case]
    backend = dataclasses.replace(backend, format="values")
    operator = adopt.jacobian if prepare is adopt.prepare_jacobian else adopt.hessian
    x = jnp.linspace(0.5, 1.5, 40)
    constant = operator(f, backend, x, prep=prepare(f, backend, x))
    none = {"jacobian": 0, "hessian": 0}
    monkeypatch.setattr(prepare_module, "SEEDS_AS_CONSTANTS", none)
    assert max(_constants(monkeypatch, prepare, f, backend, 40, "f64")) < 40
    monkeypatch.setattr(prepare_module, "SEEDS_AS_CONSTANTS", none)
    prep = prepare(f, backend, x)
    built = operator(f, backend, x, prep=prep)
    P = adopt.sparsity_pattern(prep).tocoo()
    keep = {None: P.row >= 0, "lower": P.row >= P.col, "upper": P.row <= P.col}[backend.triangle]
    dense = (jax.jacfwd(f) if operator is adopt.jacobian else jax.hessian(f))(x)
    np.testing.assert_allclose(built, dense[P.row[keep], P.col[keep]], rtol=1e-13)
    np.testing.assert_allclose(built, constant, rtol=1e-13)


def test_bcoo_results_share_the_prepared_indices():
    b = adopt.AutoSparse(adopt.AutoJAX())
    x = jnp.linspace(0.5, 1.5, 40)
    prep = adopt.prepare_jacobian(chain, b, x)
    first, second = (adopt.jacobian(chain, b, x * s, prep=prep) for s in (1.0, 2.0))
    assert first.indices is second.indices  # one index array, made at preparation
    P = adopt.sparsity_pattern(prep).tocoo()
    np.testing.assert_array_equal(np.asarray(first.indices), np.stack([P.row, P.col], axis=1))
    np.testing.assert_allclose(second.todense(), jax.jacfwd(chain)(x * 2.0), rtol=1e-13)
    # built by unflattening a BCOO made at preparation: the constructor's facts all hold
    assert (first.shape, first.nse, first.dtype) == ((38, 40), P.nnz, jnp.float64)
    assert first.indices_sorted and first.unique_indices
    v = jnp.linspace(-1.0, 1.0, 40)
    np.testing.assert_allclose(first @ v, jax.jacfwd(chain)(x) @ v, rtol=1e-13)
    np.testing.assert_allclose(jax.jit(lambda J, v: J @ v)(first, v), first @ v, rtol=1e-13)


def test_bcoo_of_numpy_input():
    b = adopt.AutoSparse(adopt.AutoJAX(), format="bcoo")
    x = np.linspace(0.5, 1.5, 40)
    J = adopt.jacobian(chain, b, x, prep=adopt.prepare_jacobian(chain, b, x))
    assert isinstance(J.data, jax.Array) and J.unique_indices
    np.testing.assert_allclose(J.todense(), jax.jacfwd(chain)(jnp.asarray(x)), rtol=1e-13)


class PrimalCount(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts evaluations of the primal by its one ``log``: no derivative of ``f`` has a
    ``log`` (d log = 1/x), so the entries ``log`` produces, over ``f``'s count, is the number
    of primal evaluations (a batch of ``k`` primals counts ``k``)."""

    def __init__(self, per_primal):
        super().__init__()
        self.per_primal, self.entries = per_primal, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (torch.ops.aten.log.default, torch.ops.aten.log.out):  # also in place
            self.entries += out.numel()
        return out

    @property
    def primals(self):
        return self.entries / self.per_primal


def logchain(x):
    return torch.log(x[1:-1] ** 2 + x[2:] * x[:-2]) * x[1:-1]


@pytest.mark.parametrize("operator", ["jacobian", "hessian"])
def test_prepared_torch_calls_evaluate_the_primal_once(operator):
    n = 30
    f = logchain if operator == "jacobian" else (lambda z: logchain(z).sum())
    prepare, run = {"jacobian": (adopt.prepare_jacobian, adopt.jacobian),
                    "hessian": (adopt.prepare_hessian, adopt.hessian)}[operator]
    b = adopt.AutoSparse(adopt.AutoTorch())
    x = torch.linspace(0.5, 1.5, n, dtype=torch.float64)
    prep = prepare(f, b, x)
    with PrimalCount(n - 2) as count:
        got = run(f, b, x * 1.1, prep=prep)
    assert adopt.ncolors(prep) >= 3
    # not once per color: at most 1/ncolors of a primal per color (the Hessian of this f has
    # no log term, so its simplified graph drops the log altogether)
    assert count.primals == (1 if operator == "jacobian" else 0)
    dense = (torch.func.jacfwd if operator == "jacobian" else torch.func.hessian)(f)(x * 1.1)
    torch.testing.assert_close(got.to_dense(), dense, rtol=1e-12, atol=1e-12)


SHARDED = """
import numpy as np, jax, jax.numpy as jnp, adopt
jax.config.update("jax_enable_x64", True)
assert jax.device_count() == 4
f = lambda x: x[1:-1] ** 2 * x[2:] - x[:-2] * x[1:-1] + jnp.sin(x[1:-1])
g = lambda x: f(x).sum() + (x ** 4).sum()
x = jnp.linspace(0.5, 1.5, 41)
cases = [
    (adopt.prepare_jacobian, adopt.jacobian, f, {}),
    (adopt.prepare_jacobian, adopt.jacobian, f, {"dense": adopt.AutoJAX(mode="reverse")}),
    (adopt.prepare_jacobian, adopt.jacobian, f, {"dense": adopt.MixedMode(adopt.AutoJAX(mode="forward"), adopt.AutoJAX(mode="reverse"))}),
    (adopt.prepare_hessian, adopt.hessian, g, {}),
    (adopt.prepare_hessian, adopt.hessian, g, {"coloring": adopt.GreedyColoring(symmetric="acyclic"), "triangle": "lower"}),
]
for prepare, run, fn, kw in cases:
    kw = {"dense": adopt.AutoJAX(), **kw}
    plain, sharded = adopt.AutoSparse(**kw), adopt.AutoSparse(**kw, shard=True)
    p0, p1 = prepare(fn, plain, x), prepare(fn, sharded, x)
    assert adopt.ncolors(p0) == adopt.ncolors(p1) and adopt.ncolors(p1) % 4 != 0
    for s in (1.0, 1.3):
        a, b = run(fn, plain, x * s, prep=p0), run(fn, sharded, x * s, prep=p1)
        np.testing.assert_allclose(np.asarray(b.todense()), np.asarray(a.todense()), rtol=1e-14, atol=1e-14)
print("ok", len(cases))
"""


def test_sharded_colors_give_the_unsharded_results_on_4_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SHARDED)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", "5"]


def test_shard_needs_a_jax_backend():
    with pytest.raises(ValueError, match=r"shard=True .* needs a JAX backend"):
        adopt.prepare_jacobian(chain, adopt.AutoSparse(adopt.AutoTorch(), shard=True),
                               torch.linspace(0.5, 1.5, 10, dtype=torch.float64))
