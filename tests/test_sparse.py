"""Sparse Jacobians and Hessians: every backend × scenario × coloring × format, against dense."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import adopt
from adopt.problems import brusselator_residual
from adopt.testing._sparse import check_sparse_backend, sparse_scenarios

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
import jax.numpy as jnp  # noqa: E402

SCENARIOS = sparse_scenarios()
JAC = [s for s in SCENARIOS if s.operator == "jacobian"]
HESS = [s for s in SCENARIOS if s.operator == "hessian"]

FD = adopt.AutoFiniteDiff()
DENSES = {
    "fd": (FD, lambda a: a, 1e-6, 1e-6),
    "fd-complex": (adopt.AutoFiniteDiff(method="complex"), lambda a: a, 1e-7, 1e-7),
    "jax": (adopt.AutoJAX(), jnp.asarray, 1e-10, 1e-12),
    "jax-rev": (adopt.AutoJAX(mode="reverse"), jnp.asarray, 1e-10, 1e-12),
    "torch": (adopt.AutoTorch(), torch.from_numpy, 1e-10, 1e-12),
    "torch-fwd": (adopt.AutoTorch(mode="forward"), torch.from_numpy, 1e-10, 1e-12),
    "jax-numpy-in": (adopt.AutoJAX(), lambda a: a, 1e-10, 1e-12),
}


@pytest.mark.parametrize("name", list(DENSES))
def test_sparse_jacobians(name):
    dense, conv, rtol, atol = DENSES[name]
    assert check_sparse_backend(adopt.AutoSparse(dense), JAC, convert=conv, rtol=rtol, atol=atol) == 2 * len(JAC)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_mixed_mode(framework):
    B = adopt.AutoJAX if framework == "jax" else adopt.AutoTorch
    conv = jnp.asarray if framework == "jax" else torch.from_numpy
    sparse = adopt.AutoSparse(adopt.MixedMode(B(mode="forward"), B(mode="reverse")))
    assert check_sparse_backend(sparse, JAC, convert=conv) == 2 * len(JAC)


HESS_BACKENDS = {
    "fd": (FD, lambda a: a, 1e-6, 1e-6),
    "jax": (adopt.AutoJAX(), jnp.asarray, 1e-10, 1e-12),
    "torch": (adopt.AutoTorch(), torch.from_numpy, 1e-10, 1e-12),
    "jax-ror": (adopt.SecondOrder(adopt.AutoJAX(mode="reverse"), adopt.AutoJAX()), jnp.asarray, 1e-10, 1e-12),
    "torch-for": (adopt.SecondOrder(adopt.AutoTorch(mode="forward"), adopt.AutoTorch()), torch.from_numpy, 1e-10, 1e-12),
    "fd-over-jax": (adopt.SecondOrder(FD, adopt.AutoJAX()), lambda a: a, 1e-6, 1e-6),
}


@pytest.mark.parametrize("symmetric", ["star", "acyclic"])
@pytest.mark.parametrize("triangle", [None, "lower"])
@pytest.mark.parametrize("name", list(HESS_BACKENDS))
def test_sparse_hessians(name, symmetric, triangle):
    dense, conv, rtol, atol = HESS_BACKENDS[name]
    sparse = adopt.AutoSparse(dense, coloring=adopt.GreedyColoring(symmetric=symmetric), triangle=triangle)
    assert check_sparse_backend(sparse, HESS, convert=conv, rtol=rtol, atol=atol) == 2 * len(HESS)


@pytest.mark.parametrize("framework", ["numpy", "jax", "torch"])
def test_brusselator_colors_and_values(framework):
    N = 8
    f = brusselator_residual(N)
    dense = {"numpy": FD, "jax": adopt.AutoJAX(), "torch": adopt.AutoTorch()}[framework]
    conv = {"numpy": lambda a: a, "jax": jnp.asarray, "torch": torch.from_numpy}[framework]
    x = conv(np.random.default_rng(0).uniform(0, 1, 2 * N * N))
    b = adopt.AutoSparse(dense)
    prep = adopt.prepare_jacobian(f, b, x)
    assert adopt.ncolors(prep) <= 12
    assert adopt.sparsity_pattern(prep).nnz == 6 * 2 * N * N
    J = adopt.jacobian(f, b, x, prep=prep)
    Jd = np.asarray(adopt.jacobian(f, dense, x)) if framework != "torch" else adopt.jacobian(f, dense, x).numpy()
    Js = J.toarray() if sp.issparse(J) else (np.asarray(J.todense()) if framework == "jax" else J.to_dense().numpy())
    np.testing.assert_allclose(Js, Jd, rtol=1e-6, atol=1e-8)


FORMATS = {
    "csr": sp.csr_array, "csc": sp.csc_array, "coo": sp.coo_array, "values": np.ndarray, "dense": np.ndarray,
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_formats_numpy(fmt):
    f = lambda x: x[1:] * x[:-1]  # noqa: E731
    b = adopt.AutoSparse(FD, format=fmt)
    x = np.arange(1.0, 6.0)
    prep = adopt.prepare_jacobian(f, b, np.ones(5))
    J = adopt.jacobian(f, b, x, prep=prep)
    assert isinstance(J, FORMATS[fmt])
    if fmt in ("csr", "csc", "coo"):   # SciPy's own index dtype: SuperLU, LSMR convert nothing
        indices = (J.coords if fmt == "coo" else (J.indices, J.indptr))
        assert all(i.dtype == np.int32 and not i.flags.writeable for i in indices)
    P = adopt.sparsity_pattern(prep)
    rows, cols = P.nonzero()
    dense = np.zeros((4, 5))
    dense[rows, cols] = J if fmt == "values" else 0
    ref = adopt.jacobian(f, FD, x)
    got = dense if fmt == "values" else (J if fmt == "dense" else J.toarray())
    np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_stable_structure_with_explicit_zeros_and_out():
    """Values that vanish at x stay stored: the structure never changes (IPOPT reads it once)."""
    f = lambda x: x[1:] * x[:-1]  # noqa: E731
    b = adopt.AutoSparse(FD)
    prep = adopt.prepare_jacobian(f, b, np.ones(5))
    J1 = adopt.jacobian(f, b, np.ones(5), prep=prep)
    J0 = adopt.jacobian(f, b, np.zeros(5), prep=prep)
    assert J0.nnz == J1.nnz == 8 and np.all(J0.data == 0)
    out = adopt.jacobian(f, b, np.ones(5), prep=prep)
    res = adopt.jacobian(f, b, np.arange(5.0), prep=prep, out=out)
    assert res is out
    np.testing.assert_allclose(out.toarray(), adopt.jacobian(f, FD, np.arange(5.0)), atol=1e-8)


def test_jax_bcoo_and_torch_outputs():
    f = lambda x: x[1:] * x[:-1]  # noqa: E731
    J = adopt.jacobian(f, adopt.AutoSparse(adopt.AutoJAX()), jnp.arange(5.0))
    from jax.experimental import sparse as jsparse

    assert isinstance(J, jsparse.BCOO) and J.dtype == jnp.float64
    Jt = adopt.jacobian(f, adopt.AutoSparse(adopt.AutoTorch()), torch.arange(5.0, dtype=torch.float64))
    assert Jt.layout == torch.sparse_coo and Jt.dtype == torch.float64
    np.testing.assert_allclose(np.asarray(J.todense()), Jt.to_dense().numpy())


def test_value_forms_and_hessian_triangle():
    f = lambda x: ((x[1:] - x[:-1]) ** 3).sum()  # noqa: E731
    x = np.linspace(0, 1, 6)
    b = adopt.AutoSparse(adopt.AutoJAX(), triangle="lower")
    prep = adopt.prepare_hessian(f, b, x)
    y, g, H = adopt.value_gradient_and_hessian(f, b, x, prep=prep)
    Hd = np.asarray(adopt.hessian(f, adopt.AutoJAX(), x))
    np.testing.assert_allclose(H.toarray(), np.tril(Hd), atol=1e-12)
    np.testing.assert_allclose(g, np.asarray(adopt.gradient(f, adopt.AutoJAX(), x)), atol=1e-12)
    assert np.isclose(float(y), float(f(x)))
    rows, cols = adopt.sparsity_pattern(prep).nonzero()
    assert np.all(H.tocoo().row >= H.tocoo().col)
    yv, J = adopt.value_and_jacobian(lambda x: x**2, adopt.AutoSparse(FD), x)
    np.testing.assert_allclose(J.toarray(), np.diag(2 * x), atol=1e-8)


def test_known_and_dense_detectors():
    f = lambda x: x[1:] * x[:-1]  # noqa: E731
    P = sp.eye_array(4, 5, k=0) + sp.eye_array(4, 5, k=1)
    b = adopt.AutoSparse(FD, sparsity_detector=adopt.KnownSparsityDetector(P))
    prep = adopt.prepare_jacobian(f, b, np.ones(5))
    assert adopt.sparsity_pattern(prep).nnz == 8
    with pytest.raises(ValueError, match=r"pattern of shape \(4, 5\)"):
        adopt.prepare_jacobian(f, adopt.AutoSparse(FD, sparsity_detector=adopt.KnownSparsityDetector(sp.eye_array(3))), np.ones(5))
    branchy = lambda x: x * 2 if x[0] > 0 else x ** 3  # noqa: E731
    with pytest.raises(adopt.SparsityDetectionError, match="DenseSparsityDetector"):
        adopt.prepare_jacobian(branchy, adopt.AutoSparse(FD), np.ones(3))
    local = adopt.AutoSparse(FD, sparsity_detector=adopt.DenseSparsityDetector(FD, atol=1e-8))
    assert adopt.ncolors(adopt.prepare_jacobian(branchy, local, np.ones(3))) == 1


def test_constant_that_shapes_the_pattern_is_checked():
    f = lambda x, idx: x[idx] * x[0]  # noqa: E731
    b = adopt.AutoSparse(FD)
    prep = adopt.prepare_jacobian(f, b, np.ones(5), adopt.Constant(np.array([1, 2])))
    J = adopt.jacobian(f, b, np.arange(5.0), adopt.Constant(np.array([1, 2])), prep=prep)
    assert J.shape == (2, 5)
    with pytest.raises(adopt.PreparationMismatchError, match="shapes the sparsity pattern"):
        adopt.jacobian(f, b, np.arange(5.0), adopt.Constant(np.array([3, 4])), prep=prep)
    g = lambda x, w: w * x  # noqa: E731
    prep = adopt.prepare_jacobian(g, b, np.ones(3), adopt.Constant(np.array([1.0, 0.0, 2.0])))
    adopt.jacobian(g, b, np.ones(3), adopt.Constant(np.array([5.0, 0.0, 0.0])), prep=prep)
    with pytest.raises(adopt.PreparationMismatchError, match="nonzeros where the preparation had zeros"):
        adopt.jacobian(g, b, np.ones(3), adopt.Constant(np.array([1.0, 1.0, 1.0])), prep=prep)
    # prepared without zeros (a Lagrangian's multipliers at ones), no value can add a nonzero:
    # every later value is served, zeros included, with the dense operator's numbers
    prep = adopt.prepare_jacobian(g, b, np.ones(3), adopt.Constant(np.ones(3)))
    for w in (np.array([5.0, 0.0, -1.0]), np.zeros(3), np.array([0.0, 1.0, 2.0])):
        J = adopt.jacobian(g, b, np.arange(3.0), adopt.Constant(w), prep=prep)
        np.testing.assert_allclose(J.toarray(), adopt.jacobian(g, FD, np.arange(3.0), adopt.Constant(w)), atol=1e-9)


def test_accessors_on_dense_prep_raise():
    prep = adopt.prepare_jacobian(np.sin, FD, np.ones(2))
    with pytest.raises(ValueError, match="not sparse"):
        adopt.ncolors(prep)


def test_non_square_hessian_pattern_is_rejected():
    bad = adopt.KnownSparsityDetector(np.ones((2, 3)))
    with pytest.raises(ValueError, match="Hessian"):
        adopt.prepare_hessian(lambda x: (x**2).sum(), adopt.AutoSparse(FD, sparsity_detector=bad), np.ones(3))


def test_other_operators_use_the_dense_backend():
    b = adopt.AutoSparse(FD)
    g = adopt.gradient(lambda x: (x**2).sum(), b, np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-8)


# ---- PyTorch graph capture of prepared sparse calls --------------------------------------
def _static(x, w):
    return torch.roll(x, 1) * x * w


def _branchy(x, w):
    return torch.roll(x, 1) * w if bool(x.sum() > 0) else x**3


def _float_context(x, c):
    return torch.roll(x, 1) * x * c


CAPTURE_CASES = {
    # name: (f, context value, captured?)
    "static, tensor context": (_static, torch.linspace(1.0, 2.0, 6, dtype=torch.float64), True),
    "control flow on x": (_branchy, torch.ones(6, dtype=torch.float64), False),
    "Python float context": (_float_context, 2.5, False),
}


@pytest.mark.parametrize("name", list(CAPTURE_CASES))
def test_torch_capture_is_taken_only_where_it_is_exact(name):
    from adopt.backends.torch import TorchImpl

    f, w, captured = CAPTURE_CASES[name]
    x = torch.linspace(0.5, 1.5, 6, dtype=torch.float64)
    graph = TorchImpl(adopt.AutoTorch()).capture(lambda x_, w_: f(x_, w_) * 2, x, w)
    assert (graph is not None) == captured
    if captured:
        torch.testing.assert_close(graph(x, w), f(x, w) * 2, rtol=1e-15, atol=0)


@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
@pytest.mark.parametrize("name", list(CAPTURE_CASES))
def test_captured_sparse_jacobian_follows_new_points_and_contexts(name, mode):
    f, w, _ = CAPTURE_CASES[name]
    local = adopt.DenseSparsityDetector(adopt.AutoTorch())
    b = adopt.AutoSparse(adopt.AutoTorch(mode=mode), sparsity_detector=local, format="dense")
    x0 = torch.linspace(0.5, 1.5, 6, dtype=torch.float64)
    prep = adopt.prepare_jacobian(f, b, x0, adopt.Constant(w))   # prepared here ...
    x1 = torch.linspace(-0.3, 0.9, 6, dtype=torch.float64)        # ... executed elsewhere
    w1 = w * 3 if isinstance(w, float) else w.flip(0) * 3
    for xe, we in ((x0, w), (x1, w1)):
        ref = torch.func.jacrev(f)(xe, we)
        if name == "control flow on x":
            ref = ref * torch.from_numpy(adopt.sparsity_pattern(prep).toarray())  # the local pattern at x0
        torch.testing.assert_close(adopt.jacobian(f, b, xe, adopt.Constant(we), prep=prep), ref)
        yv, J = adopt.value_and_jacobian(f, b, xe, adopt.Constant(we), prep=prep)
        torch.testing.assert_close(yv, f(xe, we))
        torch.testing.assert_close(J, ref)


def test_captured_sparse_hessian_matches_eager():
    f = lambda x: ((x[1:] - x[:-1] ** 2) ** 2).sum() + (torch.sin(x) ** 2).sum()  # noqa: E731
    b = adopt.AutoSparse(adopt.AutoTorch(), format="dense")
    prep = adopt.prepare_hessian(f, b, torch.ones(7, dtype=torch.float64))
    x = torch.linspace(-1.0, 2.0, 7, dtype=torch.float64)
    torch.testing.assert_close(adopt.hessian(f, b, x, prep=prep), torch.func.hessian(f)(x))


def test_captured_graph_folds_what_depends_on_constants_only():
    from adopt.backends.torch import TorchImpl

    seeds = torch.arange(12.0, dtype=torch.float64).reshape(3, 4)
    def fn(x):  # the stencil of the seeds is constant; x's part and the random draw are not
        return (torch.roll(seeds, 1, 1) - 2 * seeds) * torch.sin(x) + torch.rand(4, dtype=torch.float64) * 0

    x = torch.linspace(0.0, 1.0, 4, dtype=torch.float64)
    graph = TorchImpl(adopt.AutoTorch()).capture(fn, x)
    ops = {str(n.target) for n in graph.graph.graph.nodes if n.op == "call_function"}
    assert "aten.roll.default" not in ops and "aten.sin.default" in ops
    assert any("rand" in op for op in ops)  # random draws are never folded into constants
    x1 = torch.linspace(-2.0, 3.0, 4, dtype=torch.float64)
    torch.testing.assert_close(graph(x1), (torch.roll(seeds, 1, 1) - 2 * seeds) * torch.sin(x1), rtol=1e-15, atol=0)


# ---- the simplifier of captured graphs (adopt/backends/torch_graph.py) ----------------------
def _hvp_of(f, seeds):
    """The batched forward-over-reverse HVP a sparse Hessian prep captures."""
    return lambda x: torch.func.vmap(lambda t: torch.func.jvp(torch.func.grad(f), (x,), (t,))[1])(seeds)


_SEEDS = (torch.arange(7) % 3 == torch.arange(3)[:, None]).double()  # colors j mod 3
_IDX = torch.tensor([4, 0, 6, 6, 2])


def _shared(x):  # an intermediate read twice: never overwritten
    y = torch.sin(x) * 2
    return (y + 1) * y - y[1:].sum()


SIMPLIFIER_CASES = {
    # name: (fn of x, ops that must be gone from the simplified graph)
    "rosenbrock hvp": (_hvp_of(lambda x: (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum(), _SEEDS),
                       {"aten.pow.Tensor_Scalar": 1.0, "aten.slice_backward.default": None}),
    "banded hvp": (_hvp_of(lambda x: ((x[2:] - x[:-2]) ** 3).sum() + (x[1:] * x[:-1] ** 2).sum() + x.exp().sum(), _SEEDS),
                   {"aten.pow.Tensor_Scalar": 0.0, "aten.ones_like.default": None}),
    "gather": (lambda x: (x ** 2 * 3.0)[_IDX] - x[_IDX], {"aten.index.Tensor": None}),
    "shared intermediate": (_shared, {}),
    "negations": (lambda x: -(-(x * 2.5)) - (-x.exp()), {"aten.neg.default": None}),
}


@pytest.mark.parametrize("name", list(SIMPLIFIER_CASES))
def test_simplified_graph_is_exact_and_leaner(name):
    from adopt.backends.torch import TorchImpl

    fn, gone = SIMPLIFIER_CASES[name]
    x0 = torch.linspace(0.5, 1.5, 7, dtype=torch.float64)
    captured = TorchImpl(adopt.AutoTorch()).capture(fn, x0)       # captured here ...
    x1 = torch.linspace(-1.3, 2.1, 7, dtype=torch.float64)         # ... called elsewhere
    x1_copy = x1.clone()
    torch.testing.assert_close(captured(x1), fn(x1), rtol=1e-14, atol=1e-14)
    assert torch.equal(x1, x1_copy)  # inputs are never written
    nodes = [n for n in captured.graph.graph.nodes if n.op == "call_function"]
    for op, arg in gone.items():  # e.g. no pow(a, 1) left; None: no such op at all
        assert not [n for n in nodes if str(n.target) == op and (arg is None or n.args[1] == arg)], op
    xg = x1.clone().requires_grad_(True)  # autograd records the call: the eager function runs
    torch.testing.assert_close(torch.autograd.grad(captured(xg).sum(), xg)[0],
                               torch.func.grad(lambda x: fn(x).sum())(x1))


def test_captured_sparse_hessian_is_differentiable():
    f = lambda x: (x ** 4).sum() + (x[1:] * x[:-1]).sum()  # noqa: E731 - H = diag(12 x^2) + offdiag 1
    b = adopt.AutoSparse(adopt.AutoTorch())
    prep = adopt.prepare_hessian(f, b, torch.ones(6, dtype=torch.float64))
    x = torch.linspace(-1.0, 2.0, 6, dtype=torch.float64).requires_grad_(True)
    H = adopt.hessian(f, b, x, prep=prep)
    (d,) = torch.autograd.grad(H.coalesce().values().sum(), x)
    torch.testing.assert_close(d, 24 * x.detach())
