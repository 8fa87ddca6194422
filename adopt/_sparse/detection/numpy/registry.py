"""The NumPy tracer's rule tables, filled by the rule modules of this folder when imported."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Rule", "FUNCTIONS", "KEEPS_OUT", "GUFUNCS", "implements", "implements_each",
           "np_functions"]

#: rule(trace, *args, **kwargs) -> result, with the arguments of the NumPy function
Rule = Callable[..., Any]
#: ``__array_function__``: NumPy function -> rule
FUNCTIONS: dict[Callable, Rule] = {}
#: functions whose rule handles ``out=`` itself
KEEPS_OUT: set[Callable] = set()
#: generalized ufuncs (``ufunc.signature`` set) by name -> rule
GUFUNCS: dict[str, Rule] = {}


def np_functions(names: str) -> list[Callable]:
    """The NumPy functions named in ``names`` (dotted names in submodules; missing ones, e.g.
    of another NumPy version, are skipped).

    Examples
    --------
    >>> from adopt._sparse.detection.numpy.registry import np_functions
    >>> [f.__name__ for f in np_functions("sum linalg.norm no_such_function")]
    ['sum', 'norm']
    """
    out = []
    for name in names.split():
        obj: Any = np
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            out.append(obj)
    return out


def implements(*funcs: Callable, keeps_out: bool = False) -> Callable[[Rule], Rule]:
    """Register ``rule(trace, *args, **kwargs)`` for each of ``funcs``."""
    def deco(rule: Rule) -> Rule:
        for f in funcs:
            FUNCTIONS[f] = rule
            if keeps_out:
                KEEPS_OUT.add(f)
        return rule

    return deco


def implements_each(*funcs: Callable) -> Callable[[Rule], Rule]:
    """Register ``rule(trace, func, *args, **kwargs)`` for each of ``funcs`` (the rule is told
    which function it serves)."""
    def deco(rule: Rule) -> Rule:
        for f in funcs:
            FUNCTIONS[f] = _bound(rule, f)
        return rule

    return deco


def _bound(rule: Rule, func: Callable) -> Rule:
    return lambda tr, *args, **kwargs: rule(tr, func, *args, **kwargs)
