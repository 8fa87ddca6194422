"""What every sparse prep shares: seeds, the compiled (or captured) call, and the prep itself."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt._arrays import array_kind, numpy_dtype
from adopt._prep import Prep
from adopt._autosparse.formats import constant, format_name, formatter
from adopt._autosparse.info import SparseInfo
from adopt._autosparse.pattern import guard
from adopt.backends.wrappers import AutoSparse
from adopt.operators._common import Setup

__all__ = ["seeds", "finish", "captures", "count", "concat"]


def seeds(s: Setup, colors: np.ndarray, ncolors: int, shape: tuple[int, ...]) -> Any:
    S = np.zeros((ncolors, colors.size), dtype=np.float64)
    used = colors >= 0  # a negative color: a group whose products are never read
    S[colors[used], np.flatnonzero(used)] = 1.0
    return constant(s.outer.kind, S.astype(numpy_dtype(s.given.x)).reshape((ncolors, *shape)))


def finish(s: Setup, backend: AutoSparse, h: Callable, info: SparseInfo, shape: tuple[int, int]) -> Prep:
    """Compile the plain form at preparation, and the value form at its first call: an unused
    value output costs a JAX call ~10%, and a second compilation would double preparation.
    JAX-in, JAX-out formats are built inside the jit."""
    fmt = formatter(s, backend, info, shape)
    inside = s.outer.kind == "jax" and array_kind(s.given.x) == "jax" and format_name(s, backend) in ("bcoo", "dense")
    pick = (lambda r: (*r[:-1], fmt(r[-1]))) if inside else (lambda r: r)
    run_both = s.runner(_compiled(s, s.core(h, 0, pick), eager=False))
    run_only = s.runner(_compiled(s, s.core(h, 0, lambda r: pick(r)[-1]), eager=True))
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


def _compiled(s: Setup, core: Callable, eager: bool) -> Callable:
    """The prepared form of ``core``: compiled (JAX), or captured as a graph (PyTorch, where a
    sparse prep's structure is static) at preparation (``eager``) or at its first call."""
    if not captures(s):
        return s.compile(core, s.x, *s.cvals, eager=eager)
    if eager:
        return s.outer.capture(core, s.x, *s.cvals) or core
    chosen: list[Callable] = []

    def first(*args: Any) -> Any:
        if not chosen:
            chosen.append(s.outer.capture(core, *args) or core)
        return chosen[0](*args)

    return first


def count(colors: np.ndarray) -> int:
    return int(colors.max()) + 1 if colors.size else 0


def concat(impl: Any) -> Callable[[list], Any]:
    if impl.kind == "jax":
        import jax.numpy as jnp

        return jnp.concatenate
    if impl.kind == "torch":
        import torch

        return torch.cat
    return np.concatenate


