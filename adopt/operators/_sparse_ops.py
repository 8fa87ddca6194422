"""Sparse Jacobians and Hessians: detection, coloring and decompression at preparation.

A prepared sparse call runs one compiled function: the batched products of the color groups'
seed tangents, then a gather by a precomputed index map (for acyclic Hessian colorings,
substitution in closed form: a gather, a cumulative sum and a few element-wise operations). Only
the conversion of the nonzeros into the requested format happens outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._arrays import array_kind, converter, numpy_dtype
from adopt._contexts import Constant
from adopt._errors import PreparationMismatchError
from adopt._prep import Prep
from adopt._sparse import coloring as col
from adopt._sparse.backend import AutoSparse, GreedyColoring, MixedMode
from adopt._sparse.detectors import SparsityDetectionError, canonical_pattern
from adopt.operators import _derive as d
from adopt.operators._common import Setup, setup
from adopt.operators.hvp import value_hvp_function

__all__ = ["prepare_sparse_jacobian", "prepare_sparse_hessian", "SparseInfo"]


@dataclass(frozen=True, eq=False)
class SparseInfo:
    """The sparse facts of a prep: pattern, colors and the structure of the output."""

    pattern: sp.csr_array
    mode: str                          # "forward", "reverse", "mixed", "star" or "acyclic"
    column_colors: np.ndarray | None
    row_colors: np.ndarray | None
    ncolors: int
    rows: np.ndarray                   # the structure of the output, in its stable order
    cols: np.ndarray


def _detector(backend: AutoSparse) -> Any:
    if backend.sparsity_detector is not None:
        return backend.sparsity_detector
    from adopt._sparse.detectors import TracerSparsityDetector

    return TracerSparsityDetector()


def _framework(s: Setup) -> str:
    """The framework ``f`` is written for: the (inner) backend's, or the input's for a black box."""
    inner = s.inner.backend
    if inner.black_box:
        kind = array_kind(s.x_user)
        return "numpy" if kind == "scalar" else kind
    return inner.framework


def _oop(f: Callable[..., Any], y: Any) -> Callable[..., Any]:
    """An in-place ``f(y, x, *c)`` as an out-of-place function for sparsity detection."""
    shape = tuple(y.shape)

    def g(x: Any, *c: Any) -> Any:
        buf = x.new_zeros(shape) if array_kind(x) == "torch" else np.zeros_like(x, shape=shape)
        f(buf, x, *c)
        return buf

    return g


def _pattern(s: Setup, backend: AutoSparse, hessian: bool) -> sp.csr_array:
    det = _detector(backend)
    f = s.f if s.y_user is None else _oop(s.f, s.y_user)
    fw = _framework(s)
    detect = det.hessian_sparsity if hessian else det.jacobian_sparsity
    expected = (s.shapes.n, s.shapes.n) if hessian else (s.shapes.m, s.shapes.n)
    try:
        P = detect(f, s.x_user, *_as_framework(s.contexts, fw), framework=fw)
    except SparsityDetectionError as e:  # say which operator and backend met it
        raise SparsityDetectionError(f"{s.where}: {e}") from e
    P = canonical_pattern(P)
    if P.shape != expected:
        raise ValueError(f"{s.where} with {backend!r}: the sparsity detector returned a pattern of "
                         f"shape {P.shape} but the {'Hessian' if hessian else 'Jacobian'} is "
                         f"{expected}; pass a pattern of shape {expected}")
    return P


def _as_framework(contexts: tuple[Any, ...], fw: str) -> tuple[Any, ...]:
    """Array constants in ``f``'s framework, as the dense operators hand them to ``f``."""
    out = []
    for c in contexts:
        kind = array_kind(getattr(c, "value", None))
        if isinstance(c, Constant) and kind in ("numpy", "jax", "torch") and kind != fw:
            c = Constant(converter(kind, fw)(c.value))
        out.append(c)
    return tuple(out)


def _seeds(s: Setup, colors: np.ndarray, ncolors: int, shape: tuple[int, ...]) -> Any:
    S = np.zeros((ncolors, colors.size), dtype=np.float64)
    used = colors >= 0  # a negative color: a group whose products are never read
    S[colors[used], np.flatnonzero(used)] = 1.0
    return _constant(s.outer.kind, S.astype(numpy_dtype(s.x_user)).reshape((ncolors, *shape)))


def _constant(kind: str, a: np.ndarray) -> Any:
    """A NumPy constant of a prep as a native array; for JAX by ``device_put``, which unlike
    ``jnp.asarray`` compiles nothing (that costs ~10-60 ms per new shape at preparation)."""
    if kind == "jax":
        import jax

        return jax.device_put(a)
    return converter("numpy", kind)(a)


def _structural_contexts(contexts: tuple[Any, ...]) -> list[tuple[int, bool, np.ndarray]]:
    """Array constants shape the detected pattern: integer ones as indices (their values must
    not change), float ones through their zeros (a new nonzero where the preparation had a zero
    could add a structural nonzero). Each is checked per call of a strict sparse prep."""
    out = []
    for i, c in enumerate(contexts):
        v = getattr(c, "value", None)
        if isinstance(c, Constant) and array_kind(v) in ("numpy", "jax", "torch"):
            a = _as_numpy(v)
            exact = a.dtype.kind in "iub"
            out.append((i, exact, a.copy() if exact else a != 0))
    return out


def _guard(run: Callable, s: Setup) -> Callable:
    structural = _structural_contexts(s.contexts) if s.strict else []
    if not structural:
        return run

    def guarded(x: Any, T: tuple, cs: tuple) -> Any:
        for i, exact, ref in structural:
            a = _as_numpy(cs[i].value)
            if exact and not np.array_equal(a, ref) or not exact and np.any((a != 0) & ~ref):
                raise PreparationMismatchError(
                    f"{s.operator} with {s.backend!r}: context {i} shapes the sparsity pattern "
                    f"({'its integer values' if exact else 'it has nonzeros where the preparation had zeros'}) "
                    "and changed since preparation; prepare again for the new value"
                )
        return run(x, T, cs)

    return guarded


# ---- output formats ---------------------------------------------------------------------
def _format_name(s: Setup, backend: AutoSparse) -> str:
    return backend.format or {"jax": "bcoo", "torch": "torch_coo"}.get(array_kind(s.x_user), "csr")


def _formatter(s: Setup, backend: AutoSparse, info: SparseInfo, shape: tuple[int, int]) -> Callable[[Any], Any]:
    fmt = _format_name(s, backend)
    rows, cols = info.rows, info.cols
    if fmt == "values":
        return lambda v: v
    if fmt == "dense":
        return lambda v: _dense(v, rows, cols, shape)
    if fmt in ("csr", "csc", "coo"):
        return _scipy_formatter(fmt, rows, cols, shape)
    if fmt == "bcoo":
        from jax.experimental import sparse as jsparse
        import jax.numpy as jnp

        itype = np.int32 if max(shape) < 2**31 else np.int64  # half the bytes each call returns
        idx = _constant("jax", np.stack([rows, cols], axis=1).astype(itype))
        return lambda v: jsparse.BCOO((jnp.asarray(v), idx), shape=shape, indices_sorted=True,
                                      unique_indices=True)
    import torch

    if fmt == "torch_coo":
        idx_t = torch.as_tensor(np.stack([rows, cols]))
        return lambda v: torch.sparse_coo_tensor(idx_t, torch.as_tensor(v), shape, is_coalesced=True,
                                                 check_invariants=False)
    crow = torch.as_tensor(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]))
    col_t = torch.as_tensor(cols)
    return lambda v: torch.sparse_csr_tensor(crow, col_t, torch.as_tensor(v), shape,
                                             check_invariants=False)


def _as_numpy(v: Any) -> np.ndarray:
    return v.detach().cpu().numpy() if array_kind(v) == "torch" else np.asarray(v)


def _values(v: Any) -> np.ndarray:
    """The nonzeros as a writeable NumPy array (a JAX buffer is copied: it is read-only)."""
    return np.array(v) if array_kind(v) == "jax" else _as_numpy(v)


def _structure(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Index arrays shared by every result of a prep: in SciPy's index dtype (so that no call
    converts them) and read-only, so that an in-place structural change of one result
    (``eliminate_zeros``, ``sort_indices`` on a sorted matrix never writes) raises instead of
    corrupting the results of later calls."""
    itype = sp._sputils.get_index_dtype(arrays, maxval=max((a.max(initial=0) for a in arrays), default=0))
    out = tuple(np.array(a, dtype=itype) for a in arrays)
    for a in out:
        a.flags.writeable = False
    return out


def _scipy_formatter(fmt: str, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Callable:
    if fmt == "csr":
        cols_, indptr = _structure(cols, np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]))
        return lambda v: sp.csr_array((_values(v), cols_, indptr), shape=shape)
    if fmt == "coo":
        rows_, cols_ = _structure(rows, cols)
        return lambda v: sp.coo_array((_values(v), (rows_, cols_)), shape=shape)
    perm = np.lexsort((rows, cols))
    rows_c, cptr = _structure(rows[perm], np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=shape[1]))]))
    return lambda v: sp.csc_array((_values(v)[perm], rows_c, cptr), shape=shape)


def _dense(v: Any, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Any:
    kind = array_kind(v)
    if kind == "jax":
        import jax.numpy as jnp

        return jnp.zeros(shape, dtype=v.dtype).at[rows, cols].set(v)
    if kind == "torch":
        out = v.new_zeros(shape)
        out[rows, cols] = v
        return out
    out = np.zeros(shape, dtype=v.dtype)
    out[rows, cols] = v
    return out


# ---- Jacobians --------------------------------------------------------------------------
def _jacobian_mode(s: Setup, backend: AutoSparse, P: sp.csr_array, coloring: GreedyColoring) -> tuple[str, np.ndarray]:
    """Column coloring pushed forward or row coloring pulled back, whichever costs less: colors
    times the backend's cost of a forward product relative to a reverse one (1 in a captured
    PyTorch graph, where batched JVPs are plain ATen calls but batched VJPs of some ops loop)."""
    dense = s.dense  # the first-order backend (the inner one of a SecondOrder)
    order, seed = coloring.orders(symmetric=False), coloring.seed
    forward_cost = 1.0 if _captures(s) else dense.forward_cost
    has_fwd, has_rev = "pushforward" in dense.primitives, "pullback" in dense.primitives
    if dense.mode == "forward" or not has_rev:
        return "forward", col.column_coloring(P, order, seed=seed)
    if dense.mode == "reverse" or not has_fwd:
        return "reverse", col.row_coloring(P, order, seed=seed)
    cc = col.column_coloring(P, order, seed=seed)
    # a row coloring is a column coloring of P.T: the same one for a symmetric structure
    rc = cc if _symmetric_structure(P) else col.row_coloring(P, order, seed=seed)
    return ("forward", cc) if _count(cc) * forward_cost <= _count(rc) else ("reverse", rc)


def _symmetric_structure(P: sp.csr_array) -> bool:
    return P.shape[0] == P.shape[1] and (P != P.T).nnz == 0


def _count(colors: np.ndarray) -> int:
    return int(colors.max()) + 1 if colors.size else 0


def prepare_sparse_jacobian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                            contexts: tuple[Any, ...], y: Any, strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_jacobian`."""
    s = setup("jacobian", "prepare_jacobian", f, backend, x, contexts, y=y, strict=strict)
    P = _pattern(s, backend, hessian=False)
    coloring = backend.coloring or GreedyColoring()
    if isinstance(backend.dense, MixedMode):
        h, info = _mixed(s, backend.dense, P, coloring)
    else:
        mode, colors = _jacobian_mode(s, backend, P, coloring)
        h, info = _one_sided(s, P, colors, mode)
    shape = (s.shapes.m, s.shapes.n)
    return _finish(s, backend, h, info, shape)


def _finish(s: Setup, backend: AutoSparse, h: Callable, info: SparseInfo, shape: tuple[int, int]) -> Prep:
    """Compile the plain form at preparation, and the value form at its first call: an unused
    value output costs a JAX call ~10%, and a second compilation would double preparation.
    JAX-in, JAX-out formats are built inside the jit."""
    fmt = _formatter(s, backend, info, shape)
    inside = s.outer.kind == "jax" and array_kind(s.x_user) == "jax" and _format_name(s, backend) in ("bcoo", "dense")
    pick = (lambda r: (*r[:-1], fmt(r[-1]))) if inside else (lambda r: r)
    run_both = s.runner(_compiled(s, s.core(h, 0, pick), eager=False))
    run_only = s.runner(_compiled(s, s.core(h, 0, lambda r: pick(r)[-1]), eager=True))
    out = (lambda v: v) if inside else fmt

    def run(x: Any, T: tuple, cs: tuple) -> Any:
        return out(run_only(x, T, cs))

    def run_value(x: Any, T: tuple, cs: tuple) -> Any:
        r = run_both(x, T, cs)
        return (*r[:-1], out(r[-1]))

    return s.prep(_guard(run, s), _guard(run_value, s), sparse=info)


def _captures(s: Setup) -> bool:
    """Whether the prepared call will try to capture a graph (see ``BackendImpl.capture``)."""
    return s.warm and not s.outer.compiles and s.outer.captures(s.cvals)


def _compiled(s: Setup, core: Callable, eager: bool) -> Callable:
    """The prepared form of ``core``: compiled (JAX), or captured as a graph (PyTorch, where a
    sparse prep's structure is static) at preparation (``eager``) or at its first call."""
    if not _captures(s):
        return s.compile(core, s.x, *s.cvals, eager=eager)
    if eager:
        return s.outer.capture(core, s.x, *s.cvals) or core
    chosen: list[Callable] = []

    def first(*args: Any) -> Any:
        if not chosen:
            chosen.append(s.outer.capture(core, *args) or core)
        return chosen[0](*args)

    return first


def _one_sided(s: Setup, P: sp.csr_array, colors: np.ndarray, mode: str) -> tuple[Callable, SparseInfo]:
    """Column groups pushed forward, or row groups pulled back; nonzeros gathered by one index map.

    Forward products come out as ``(ncolors, m)``: entry ``(i, j)`` sits at ``colors[j] * m + i``;
    reverse ones as ``(ncolors, n)``: at ``colors[i] * n + j``.
    """
    k, (rows, cols) = _count(colors), P.nonzero()
    forward = mode == "forward"
    m, n = s.shapes.m, s.shapes.n
    idx = s.outer.index(colors[cols] * m + rows if forward else colors[rows] * n + cols)
    seeds = _seeds(s, colors, k, s.shapes.x_shape if forward else s.shapes.y_shape)
    product = (d.value_and_pushforward if forward else d.value_and_pullback)(s.outer, s.fn, s.shapes)
    take = s.outer.take

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        yv, B = product(x, seeds, *c)
        return yv, take(B.reshape(-1), idx)

    return h, SparseInfo(P, mode, colors if forward else None, None if forward else colors, k, rows, cols)


def _mixed(s: Setup, mm: MixedMode, P: sp.csr_array, coloring: GreedyColoring) -> tuple[Callable, SparseInfo]:
    rc, cc = col.bicoloring(P, coloring.orders(symmetric=False), seed=coloring.seed)
    dec = col.bicoloring_decompression(P, rc, cc)
    m, n = s.shapes.m, s.shapes.n
    fwd_used, rev_used = np.asarray(dec.forward_colors), np.asarray(dec.reverse_colors)
    fpos = np.full(dec.ncol_colors, -1)
    fpos[fwd_used] = np.arange(fwd_used.size)
    rpos = np.full(dec.nrow_colors, -1)
    rpos[rev_used] = np.arange(rev_used.size)
    ci, rev = dec.compressed_index, dec.from_reverse
    nc = m * dec.ncol_colors
    # Bc (m, ncol) entry r*ncol + c  ->  our forward products (kf, m): fpos[c]*m + r
    r_f, c_f = ci // dec.ncol_colors, ci % dec.ncol_colors
    # Br (nrow, n) entry r*n + j  ->  our reverse products (kr, n), after the forward ones
    cr = ci - nc
    r_r, j_r = cr // n, cr % n
    kf = fwd_used.size
    idx = np.where(rev, kf * m + rpos[np.where(rev, r_r, 0)] * n + np.where(rev, j_r, 0),
                   fpos[np.where(rev, 0, c_f)] * m + np.where(rev, 0, r_f))
    idx = s.outer.index(idx)
    seeds_f = _seeds(s, _select_colors(cc, fwd_used), kf, s.shapes.x_shape) if kf else None
    seeds_r = _seeds(s, _select_colors(rc, rev_used), rev_used.size, s.shapes.y_shape) if rev_used.size else None
    fi, ri = mm.forward.impl(), mm.reverse.impl()
    vpf = d.value_and_pushforward(fi, s.fn, s.shapes)
    vpb = d.value_and_pullback(ri, s.fn, s.shapes)
    cat = _concat(s.outer)

    fn = s.fn

    def h(x: Any, *c: Any) -> tuple[Any, Any]:
        yv, parts = fn(x, *c), [s.outer.zeros((0,), x)]
        if seeds_f is not None:
            yv, TY = vpf(x, seeds_f, *c)
            parts.append(TY.reshape(-1))
        if seeds_r is not None:
            yv, TX = vpb(x, seeds_r, *c)
            parts.append(TX.reshape(-1))
        return yv, s.outer.take(cat(parts), idx)

    rows, cols = dec.rows, dec.cols
    return h, SparseInfo(P, "mixed", cc, rc, kf + rev_used.size, rows, cols)


def _select_colors(colors: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Renumber ``colors`` onto the used ones; unused groups get a dummy color past the end."""
    pos = np.full(int(colors.max()) + 1 if colors.size else 0, used.size)
    pos[used] = np.arange(used.size)
    new = pos[colors]
    return np.where(new < used.size, new, -1)


def _concat(impl: Any) -> Callable[[list], Any]:
    if impl.kind == "jax":
        import jax.numpy as jnp

        return jnp.concatenate
    if impl.kind == "torch":
        import torch

        return torch.cat
    return np.concatenate


# ---- Hessians ---------------------------------------------------------------------------
def prepare_sparse_hessian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                           contexts: tuple[Any, ...], strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_hessian`."""
    s = setup("hessian", "prepare_hessian", f, backend, x, contexts, strict=strict,
              second_order=True, scalar_y=True)
    P = _pattern(s, backend, hessian=True)
    coloring = backend.coloring or GreedyColoring()
    if coloring.symmetric == "star":
        colors = col.star_coloring(P, coloring.orders(symmetric=True), seed=coloring.seed)
        dec = col.star_decompression(P, colors)
    else:
        colors = col.acyclic_coloring(P, coloring.orders(symmetric=True), seed=coloring.seed)
        dec = col.acyclic_decompression(P, colors)
    n, k = s.shapes.n, dec.ncolors
    keep = _triangle(backend.triangle, dec.rows, dec.cols)
    vghv = value_hvp_function(s)
    seeds = _seeds(s, np.asarray(colors), k, s.shapes.x_shape)
    decompress = _symmetric_decompressor(s, dec, keep)

    def h(x: Any, *c: Any) -> tuple[Any, Any, Any]:
        y, g, HT = vghv(x, seeds, *c)
        return y, g, decompress(HT.reshape(k, n))

    info = SparseInfo(P, coloring.symmetric, np.asarray(colors), np.asarray(colors), k,
                      dec.rows[keep], dec.cols[keep])
    return _finish(s, backend, h, info, (n, n))


def _triangle(triangle: str | None, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if triangle == "lower":
        return np.flatnonzero(rows >= cols)
    if triangle == "upper":
        return np.flatnonzero(rows <= cols)
    return np.arange(rows.size)


def _symmetric_decompressor(s: Setup, dec: Any, keep: np.ndarray) -> Callable[[Any], Any]:
    """Nonzeros from the compressed products ``HT`` (ncolors, n) = (H @ S).T."""
    impl, n, k = s.outer, s.shapes.n, dec.ncolors
    if isinstance(dec, col.SymmetricDecompression):
        ci = dec.compressed_index[keep]
        idx = impl.index((ci % k) * n + ci // k)
        return lambda HT: impl.take(HT.reshape(-1), idx, unique=False)
    trees = dec.trees
    nodes, ndiag = trees.key.size, dec.diagonal.size
    key, child, parent = impl.index(trees.key), impl.index(trees.child), impl.index(trees.parent)
    start, stop = impl.index(trees.start), impl.index(trees.stop)
    diagonal = impl.index(dec.diagonal_index)
    dtype = numpy_dtype(s.x_user)
    sign = _constant(impl.kind, trees.sign.astype(dtype))
    sign_child = _constant(impl.kind, trees.sign[trees.child].astype(dtype))
    # each kept nonzero, read from [diagonal values, edge values]
    slot = np.full(dec.rows.size, -1, dtype=np.int64)
    slot[dec.diagonal] = np.arange(ndiag)
    slot[trees.position] = ndiag + np.arange(trees.position.size)
    source = impl.index(slot[dec.canonical[keep]])
    cat = _concat(impl)

    def sums(b: Any) -> Any:
        C = impl.prefix_sum(sign * b)
        return sign_child * (impl.take(C, stop, unique=False) - impl.take(C, start, unique=False))

    def substitute(HT: Any) -> Any:
        flat = HT.T.reshape(-1)
        b = impl.take(flat, key)
        edges = sums(b)  # then one step of iterative refinement on the residual of every sum
        residual = b - impl.segment_sum(edges, child, nodes) - impl.segment_sum(edges, parent, nodes)
        edges = edges + sums(residual)
        return impl.take(cat([impl.take(flat, diagonal), edges]), source, unique=False)

    return substitute
