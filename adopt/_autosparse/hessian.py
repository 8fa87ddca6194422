"""Sparse Hessians: a star coloring (direct) or an acyclic one (substitution in closed form);
one batched Hessian-vector product per color, decompressed by the coloring result."""

from __future__ import annotations

from typing import Any, Callable

from adopt._arrays import numpy_dtype
from adopt._prep import Prep
from adopt._sparse.coloring import color
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.ops import native, ops_for
from adopt._autosparse.pattern import pattern
from adopt._autosparse.prepare import captures, finish, one_hot_seeds
from adopt._autosparse.shard import spread
from adopt.backends.wrappers import AutoSparse, GreedyColoring, SecondOrder
from adopt.operators import _derive as d
from adopt.operators._common import Setup, setup
from adopt.operators.hvp import value_hvp_function

__all__ = ["prepare_sparse_hessian"]


def prepare_sparse_hessian(f: Callable[..., Any], backend: AutoSparse, x: Any,
                           contexts: tuple[Any, ...], y: Any, strict: bool) -> Prep:
    """The sparse branch of :func:`adopt.prepare_hessian`."""
    s = setup("hessian", "prepare_hessian", f, backend, x, contexts, strict=strict,
              second_order=True, scalar_y=True)
    P = pattern(s, backend, hessian=True)
    coloring = backend.coloring or GreedyColoring()
    result = color(P, coloring.symmetric, coloring.order,
                   seed=coloring.seed).select(backend.triangle)
    n, k, kind = s.shapes.n, result.ncolors, s.outer.kind
    vghv, ops = spread(s, backend, _value_gradient_hvp(s)), ops_for(kind)
    argument, seeds = one_hot_seeds(kind, "hessian", result.colors, k, numpy_dtype(s.given.x),
                                    s.shapes.x_shape)
    maps = type(result.maps)(*(native(kind, a) for a in result.maps))

    def h(a: tuple, x: Any, *c: Any) -> tuple[Any, Any, Any]:
        maps, argument = a
        y, g, HT = vghv(x, seeds(argument), *c)
        return y, g, result.decompress(HT.reshape(k, n), ops, maps)

    return finish(s, backend, h, (maps, argument), SparseInfo(P, result), (n, n))


def _value_gradient_hvp(s: Setup) -> Callable:
    """``(x, T, *c) -> (y, g, HT)``. In a captured PyTorch graph: forward over reverse, one JVP
    of ``x -> (f(x), grad f(x))`` batched over the seeds, which evaluates ``f`` and its gradient
    once (a batched double backward evaluates ``f`` twice and costs ~1.5x more)."""
    if isinstance(s.parts.dense, SecondOrder) or not (captures(s) and s.outer.backend.has_pushforward):
        return value_hvp_function(s)
    vg = d.value_and_gradient(s.outer, s.fn, s.shapes, nested=True)
    push = d.value_and_pushforward(s.outer, vg, s.shapes, nested=True)

    def h(x: Any, T: Any, *c: Any) -> tuple[Any, Any, Any]:
        (y, g), (_, HT) = push(x, T, *c)
        return y, g, HT

    return h
