"""Output formats of sparse Jacobians and Hessians: the nonzeros of a call in the requested type.

The structure (index arrays) is made once per prep and shared, read-only, by every result; a
call only wraps its nonzeros.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from adopt._arrays import array_kind, to_numpy
from adopt.backends.wrappers import AutoSparse
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.ops import native
from adopt.operators._common import Setup

__all__ = ["format_name", "formatter"]


def format_name(s: Setup, backend: AutoSparse) -> str:
    return backend.format or {"jax": "bcoo", "torch": "torch_coo"}.get(array_kind(s.given.x), "csr")


def formatter(s: Setup, backend: AutoSparse, info: SparseInfo, shape: tuple[int, int]) -> Callable[[Any], Any]:
    fmt = format_name(s, backend)
    rows, cols = info.rows, info.cols
    if fmt == "values":
        return lambda v: v
    if fmt == "dense":  # writable copies: torch indexes with NumPy arrays it may not share
        rows_w, cols_w = np.array(rows), np.array(cols)
        return lambda v: _dense(v, rows_w, cols_w, shape)
    if fmt in ("csr", "csc", "coo"):
        return _scipy_formatter(fmt, rows, cols, shape)
    if fmt == "bcoo":
        return _bcoo_formatter(rows, cols, shape)
    import torch

    if fmt == "torch_coo":
        idx_t = torch.as_tensor(np.stack([rows, cols]))
        return lambda v: torch.sparse_coo_tensor(idx_t, torch.as_tensor(v), shape, is_coalesced=True,
                                                 check_invariants=False)
    crow = torch.as_tensor(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]))
    col_t = torch.as_tensor(cols)
    return lambda v: torch.sparse_csr_tensor(crow, col_t, torch.as_tensor(v), shape,
                                             check_invariants=False)


def _bcoo_formatter(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Callable:
    """BCOO results sharing one index array (int32 where it fits: half the bytes), built as
    ``jax.jit`` builds the BCOO it returns: by unflattening the pytree of a BCOO made once, which
    skips the constructor's validation of the same indices: the constructor added 50-105 us to a
    prepared call of the Brusselator's Jacobian at n = 512, unflattening nothing measurable
    (benchmarks/results/design_choices.md)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse

    idx = native("jax", np.stack([rows, cols], axis=1))
    like = jsparse.BCOO((jnp.zeros(idx.shape[0]), idx), shape=shape, indices_sorted=True,
                        unique_indices=True)
    treedef, array = jax.tree_util.tree_structure(like), jax.Array
    return lambda v: treedef.unflatten((v if isinstance(v, array) else jnp.asarray(v), idx))


def _values(v: Any) -> np.ndarray:
    """The nonzeros as a writeable NumPy array (a JAX buffer is copied: it is read-only)."""
    return np.array(v) if array_kind(v) == "jax" else to_numpy(v)


def _structure(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Index arrays shared by every result of a prep, read-only, in SciPy's index dtype: int32
    unless an index needs more, as SciPy builds its own matrices (with int64 indices SuperLU's
    factorisation of a Brusselator N = 32 Jacobian took 1.4x as long). Read-only so that an
    in-place structural change of one result (``eliminate_zeros``, ``sort_indices`` on a sorted
    matrix never writes) raises instead of corrupting the results of later calls."""
    largest = max((int(a.max(initial=0)) for a in arrays), default=0)
    itype = np.int32 if largest <= np.iinfo(np.int32).max else np.int64
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


