"""Contexts: extra arguments of ``f`` that are passed along but not differentiated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Constant", "Cache", "Context"]


@dataclass(frozen=True)
class Constant:
    """A constant argument of ``f``, passed after ``x`` and never differentiated.

    A prep is reusable for new values of a constant with the same type, shape and dtype;
    on AutoJAX a new value neither retraces nor recompiles. Python ``int``, ``str``,
    ``tuple`` and other non-array values are *static*: they are part of the prep (a new
    value needs a new prep), so they can be used as sizes inside ``f``.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> f = lambda x, a: a * (x**2).sum()
    >>> adopt.gradient(f, adopt.AutoFiniteDiff(), np.array([1.0, 2.0]), adopt.Constant(3.0)).round(6)
    array([ 6., 12.])
    """

    value: Any


@dataclass(frozen=True)
class Cache:
    """A scratch buffer argument of ``f`` that ``f`` may overwrite; never differentiated.

    adopt hands ``f`` a buffer of the cache's shape in the type the backend evaluates with:
    the buffer itself on AutoFiniteDiff, a fresh tensor on AutoTorch (so that autograd can
    record writes into it), and an array to update functionally (``c.at[...].set``) on AutoJAX.

    Examples
    --------
    >>> import numpy as np, adopt
    >>> def f(x, c):
    ...     c[:] = x**2
    ...     return c.sum()
    >>> adopt.gradient(f, adopt.AutoFiniteDiff(), np.array([1.0, 2.0]), adopt.Cache(np.zeros(2))).round(6)
    array([2., 4.])
    """

    value: Any


Context = Constant | Cache
