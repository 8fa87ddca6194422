"""What every sparse prep shares: the compiled (or captured) call over its prepared maps, and
the prep itself."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind
from adopt._prep import Prep
from adopt._sparse.coloring import one_hot
from adopt._autosparse.formats import format_name, formatter
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.ops import native
from adopt._autosparse.pattern import guard
from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import Setup

__all__ = ["finish", "captures", "one_hot_seeds"]

#: The largest seeds, in entries, that are constants of a compiled call, per operator; larger
#: ones are arguments. A Jacobian's constant seeds let XLA fold the products' terms that depend
#: on the seeds alone (the Brusselator's stencil: calls 0.5x those with seeds as an argument at
#: n = 1e5, where its 11 seeds have 1.1e6 entries), but their compile time grows with colors x
#: n (at n = 1e6 its compile went from 1.9 to 18 s). A Hessian's products gain nothing from them
#: (the chained Rosenbrock's calls 1.5x slower at n = 1e5, its prep 3x longer): see
#: benchmarks/results/scale.md.
SEEDS_AS_CONSTANTS = {"jacobian": 1 << 21, "hessian": 0}
#: The largest index maps, in entries, that are constants of a compiled call (with constant
#: seeds), per operator; larger ones are arguments. XLA compiles a Jacobian's gathers over
#: constant indices into cheaper code (Lukšan–Vlček's constraints at n = 5000: 1.01-1.08x
#: asdex's call, 1.16x with the maps as arguments), but a constant gather's compile time grows
#: with it (6e6 entries: 1.7 s, 0.04 s as an argument). A Hessian's calls were faster with
#: arguments (the same NLP's Lagrangian: 0.65x asdex's, 0.70-0.75x as constants).
MAPS_AS_CONSTANTS = {"jacobian": 1 << 18, "hessian": 0}


def one_hot_seeds(kind: str, operator: str, colors: np.ndarray, k: int, dtype: Any,
                  shape: tuple[int, ...]) -> tuple[Any, Callable[[Any], Any]]:
    """``(argument, seeds)``: the one-hot seeds of ``colors`` (``k`` tangents of ``shape``,
    ``S[c, j] = 1`` where ``colors[j] == c``, none for a negative color), a native array made
    once, as ``seeds(argument)`` inside a prepared call ``h((maps, argument), x, *c)``.

    They are a constant of the call (``argument`` None) up to :data:`SEEDS_AS_CONSTANTS`
    entries for ``operator`` ("jacobian" or "hessian"), else the ``argument`` of the call.

    Examples
    --------
    >>> import numpy as np
    >>> argument, seeds = one_hot_seeds("numpy", "jacobian", np.array([0, 1, 0]), 2, np.float64, (3,))
    >>> argument, seeds(argument).tolist()
    (None, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    """
    S = native(kind, one_hot(colors, k, dtype).reshape((k, *shape)))
    if k * colors.size > SEEDS_AS_CONSTANTS[operator]:
        return S, lambda argument: argument
    return None, lambda _: S


def finish(s: Setup, backend: AutoSparse, h: Callable, maps: Any, info: SparseInfo,
           shape: tuple[int, int]) -> Prep:
    """The prep of ``h(maps, x, *c) -> (*heads, nonzeros)``; the index maps are native arrays
    made once, passed to a compiled ``h`` as arguments (with the seeds, unless they are
    constants of ``h``: :func:`one_hot_seeds`).

    The plain form is compiled at preparation, the value form at its first call: an unused
    value output costs a JAX call ~10%, and a second compilation would double preparation.
    A dense JAX output is built inside the jit; every other format wraps the nonzeros around
    the structure made once (a BCOO built inside would copy its indices into every result).
    """
    fmt = formatter(s, backend, info, shape)
    inside = s.outer.kind == "jax" and array_kind(s.given.x) == "jax" and format_name(s, backend) == "dense"
    pick = (lambda r: (*r[:-1], fmt(r[-1]))) if inside else (lambda r: r)
    index_maps, seeds_argument = maps
    constant = (s.outer.compiles and seeds_argument is None
                and _entries(index_maps) <= MAPS_AS_CONSTANTS[s.operator])
    run_both = s.runner(_prepared(s, h, maps, pick, eager=False, constant=constant))
    run_only = s.runner(_prepared(s, h, maps, lambda r: pick(r)[-1], eager=True, constant=constant))
    out = (lambda v: v) if inside else fmt

    def run(x: Any, T: tuple, cs: tuple) -> Any:
        return out(run_only(x, T, cs))

    def run_value(x: Any, T: tuple, cs: tuple) -> Any:
        r = run_both(x, T, cs)
        return (*r[:-1], out(r[-1]))

    return s.prep(guard(run, s), guard(run_value, s), sparse=info)


def captures(s: Setup) -> bool:
    """Whether the prepared call will try to capture a graph (see ``BackendImpl.capture``)."""
    return s.given.warm and not s.outer.compiles and s.outer.captures(s.cvals)


def _entries(maps: Any) -> int:
    """The number of entries of the arrays in ``maps`` (nested tuples of arrays and None)."""
    if maps is None:
        return 0
    if isinstance(maps, tuple):
        return sum(_entries(m) for m in maps)
    return int(np.prod(maps.shape, dtype=np.int64))


def _prepared(s: Setup, h: Callable, maps: Any, pick: Callable, eager: bool,
              constant: bool = False) -> Callable:
    """``(x, *c) -> pick(h(maps, x, *c))``: compiled with ``maps`` as an argument (JAX; a
    ``constant`` of the compiled code instead: see :data:`MAPS_AS_CONSTANTS`), or with ``maps``
    bound and captured as a graph (PyTorch, where a sparse prep's structure is static) at
    preparation (``eager``) or at its first call.

    A JAX function is compiled ahead, not run: ``lower(...).compile()`` fills ``jax.jit``'s
    caches, so its first call compiles nothing, and the prep saves a call (0.4 s CPU for the
    Brusselator's Jacobian at n = 1e6)."""
    if s.outer.compiles:
        ahead = eager and s.given.warm and s.outer.kind == "jax"
        fn, args = (((lambda x, *c: pick(h(maps, x, *c))), (s.x, *s.cvals)) if constant else
                    ((lambda a, x, *c: pick(h(a, x, *c))), (maps, s.x, *s.cvals)))
        compiled = s.compile(fn, *args, eager=eager and not ahead)
        if ahead:
            compiled.lower(*args).compile()
        return compiled if constant else partial(compiled, maps)

    def core(x: Any, *c: Any) -> Any:
        return pick(h(maps, x, *c))

    if not captures(s):
        return core
    if eager:
        return s.outer.capture(core, s.x, *s.cvals) or core
    chosen: list[Callable] = []

    def first(*args: Any) -> Any:
        if not chosen:
            chosen.append(s.outer.capture(core, *args) or core)
        return chosen[0](*args)

    return first
