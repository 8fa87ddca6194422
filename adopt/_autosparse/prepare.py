"""What every sparse prep shares: the compiled (or captured) call over its prepared maps, and
the prep itself."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

from adopt._arrays import array_kind
from adopt._prep import Prep
from adopt._autosparse.formats import format_name, formatter
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.pattern import guard
from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import Setup

__all__ = ["finish", "captures", "seed_argument"]

#: Seeds with up to this many entries are constants of the compiled call: XLA specialises the
#: batched products to them (2-3x faster calls on the Brusselator at n = 1e5). Larger seeds are
#: arguments: as constants their compile time grows with colors x n (at n = 1e6 the chained
#: Rosenbrock Hessian's compile went from 0.4 to 4.4 s CPU, the Brusselator's from 1.9 to 18 s).
SEEDS_AS_CONSTANTS = 1 << 20


def seed_argument(S: Any) -> Any:
    """``S`` itself when it is too large to be a constant of a compiled call, else ``None``:
    the seeds that ``h((maps, seeds), x, *c)`` receives as ``seeds`` (see :data:`SEEDS_AS_CONSTANTS`)."""
    size = sum(math.prod(a.shape) for a in (S if isinstance(S, tuple) else (S,)))
    return S if size > SEEDS_AS_CONSTANTS else None


def finish(s: Setup, backend: AutoSparse, h: Callable, maps: Any, info: SparseInfo,
           shape: tuple[int, int]) -> Prep:
    """The prep of ``h(maps, x, *c) -> (*heads, nonzeros)``; the index maps are native arrays
    made once, passed to a compiled ``h`` as arguments (small seeds stay constants of ``h``,
    large ones travel with the maps: :func:`seed_argument`).

    The plain form is compiled at preparation, the value form at its first call: an unused
    value output costs a JAX call ~10%, and a second compilation would double preparation.
    A dense JAX output is built inside the jit; every other format wraps the nonzeros around
    the structure made once (a BCOO built inside would copy its indices into every result).
    """
    fmt = formatter(s, backend, info, shape)
    inside = s.outer.kind == "jax" and array_kind(s.given.x) == "jax" and format_name(s, backend) == "dense"
    pick = (lambda r: (*r[:-1], fmt(r[-1]))) if inside else (lambda r: r)
    run_both = s.runner(_prepared(s, h, maps, pick, eager=False))
    run_only = s.runner(_prepared(s, h, maps, lambda r: pick(r)[-1], eager=True))
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


def _prepared(s: Setup, h: Callable, maps: Any, pick: Callable, eager: bool) -> Callable:
    """``(x, *c) -> pick(h(maps, x, *c))``: compiled with ``maps`` as an argument (JAX), or
    with ``maps`` bound and captured as a graph (PyTorch, where a sparse prep's structure is
    static) at preparation (``eager``) or at its first call."""
    if s.outer.compiles:
        compiled = s.compile(lambda a, x, *c: pick(h(a, x, *c)), maps, s.x, *s.cvals, eager=eager)
        return partial(compiled, maps)

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
