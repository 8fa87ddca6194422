"""Scalar equations for ``derivative`` and ``second_derivative``: Kepler's equation.

``E - e sin E = M`` gives the eccentric anomaly E of an orbit of eccentricity e at mean anomaly
M; solving it by Halley's method is the classic (Danby & Burkardt, "The solution of Kepler's
equation I", Celestial Mechanics 31, 1983). The start is Danby's ``E0 = M + 0.85 e`` (Danby,
*Fundamentals of Celestial Mechanics*, 2nd ed., 1988, Sect. 6.6). The reference E is computed
here with mpmath ``findroot`` at 30 digits (``_computed.py``, labelled ``computed_here``).

Examples
--------
>>> import numpy as np
>>> from adopt.problems import scalar
>>> p = scalar.kepler(0.5, 1.0)
>>> p.name, p.kind, p.n
('scalar/kepler/e0.5/M1', 'scalar', 1)
>>> bool(abs(p.fun(p.reference)) < 1e-15)
True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._data import load
from adopt.problems._problem import Problem

__all__ = ["problems", "kepler", "KEPLER_CASES"]

#: (e, M): circular to near-parabolic orbits; e = 0.99 at M = 0.01 is the hard corner
KEPLER_CASES = ((0.1, 0.5), (0.5, 1.0), (0.9, 0.1), (0.99, 0.01), (0.99, 3.0))


def kepler_equation(e: float, M: float) -> Callable[[Any], Any]:
    """g(E) = E - e sin E - M for a scalar (0-d array) E."""

    def g(E: Any) -> Any:
        xp, _ = namespace(E)
        return E - e * xp.sin(E) - M

    return g


def _label(v: float) -> str:
    return f"{v:g}"


def kepler(e: float, M: float) -> Problem:
    """Kepler's equation at eccentricity ``e`` and mean anomaly ``M`` (0 < M < pi)."""
    key = f"e{_label(e)}/M{_label(M)}"
    ref = load("computed_here.json")["kepler"][key]
    return Problem(
        name=f"scalar/kepler/{key}", kind="scalar", fun=kepler_equation(e, M),
        x0=np.asarray(M + 0.85 * e), reference=np.asarray(float(ref["E"])), rtol=1e-13,
        source=f"Danby & Burkardt 1983 (Halley's method for Kepler's equation); reference E "
               f"computed_here: {ref['method']}",
    )


def problems() -> list[Problem]:
    """Kepler's equation at the cases of :data:`KEPLER_CASES`."""
    return [kepler(e, M) for e, M in KEPLER_CASES]
