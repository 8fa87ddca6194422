"""Stiff initial-value problems with published reference solutions.

Robertson, HIRES, Van der Pol (eps = 1e-6), OREGO from the Bari IVP test set and Hairer's stiff
test set; the 2D Brusselator on Hairer's grid (Hairer & Wanner II, Sect. IV.10: 128 x 128,
32768 equations) and a 32 x 32 version of it; the 1D Brusselator (N = 500). ``fun(t, y)`` is
the right-hand side, written once against the array API; ``y0`` is ``x0``. The error is the
largest componentwise relative deviation over all reference times (absolute below ``floor``).

The 32 x 32 Brusselator has no published reference: its reference is a Radau run at
rtol = atol = 1e-10 with the analytic sparse Jacobian, computed here once (``_computed.py``) and
stored labelled ``computed_here``.

Examples
--------
>>> import numpy as np
>>> from adopt.problems import ode
>>> p = ode.robertson()
>>> p.name, p.t_span, p.y0
('ode/robertson', (0.0, 100000000000.0), array([1., 0., 0.]))
>>> p.fun(0.0, p.y0)
array([-0.04,  0.04,  0.  ])
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from adopt.problems._arrayapi import namespace
from adopt.problems._data import load
from adopt.problems._problem import Problem
from adopt.problems.systems import _periodic_laplacian

__all__ = ["problems", "robertson", "hires", "vanderpol", "orego", "brusselator_2d",
           "brusselator_1d", "bruss2d_rhs", "bruss2d_y0"]


#: the integrator runs at rtol 1e-6 to 1e-7 (per problem, in ``options``); global errors of
#: 10-100 times the local tolerance are normal for stiff problems, so the answer is held to 1e-4
#: (the same with finite-difference Jacobians: they change RODAS's error only at O(1e-8)).
RTOL = 1e-4


def _stiff(key: str) -> dict[str, Any]:
    return load("stiff.json")["problems"][key]


def _sources(ref: dict[str, Any]) -> str:
    return "; ".join(ref["sources"])


def _robertson(t: Any, y: Any) -> Any:
    xp, _ = namespace(y)
    k1, k2, k3 = 0.04, 3e7, 1e4
    return xp.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                     k2 * y[1] ** 2])


def robertson() -> Problem:
    """ROBER to t = 1e11 (Bari reference)."""
    d = _stiff("robertson")
    ref = d["references"][0]
    return Problem(
        name="ode/robertson", kind="ode", fun=_robertson, x0=np.asarray(d["y0"], dtype=float),
        t_span=(0.0, ref["t"]), t_ref=np.array([ref["t"]]), reference=np.array([ref["y"]]),
        rtol=RTOL, source=f"{ref['origin']}: {_sources(ref)}", options={"rtol": 1e-6, "atol": 1e-20},
        note="y2 ~ 1e-13 at t = 1e11: atol must be far below it for a relative error in y2",
    )


def _hires(t: Any, y: Any) -> Any:
    xp, _ = namespace(y)
    r = 280.0 * y[5] * y[7]
    return xp.stack([
        -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
        1.71 * y[0] - 8.75 * y[1],
        -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
        8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
        -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
        -r + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
        r - 1.81 * y[6],
        -r + 1.81 * y[6],
    ])


def hires() -> Problem:
    """HIRES at t = 321.8122 and 421.8122 (Hairer's reference file)."""
    d = _stiff("hires")
    r1, r2 = d["references"][1], d["references"][2]
    return Problem(
        name="ode/hires", kind="ode", fun=_hires, x0=np.asarray(d["y0"], dtype=float),
        t_span=(0.0, r2["t"]), t_ref=np.array([r1["t"], r2["t"]]), reference=np.array([r1["y"], r2["y"]]),
        rtol=RTOL, source=f"{r1['origin']}: {_sources(r1)}; {_sources(r2)}",
        options={"rtol": 1e-7, "atol": 1e-9},
    )


def _vanderpol(eps: float) -> Callable[[Any, Any], Any]:
    def f(t: Any, y: Any) -> Any:
        xp, _ = namespace(y)
        return xp.stack([y[1], ((1 - y[0] ** 2) * y[1] - y[0]) / eps])

    return f


def vanderpol() -> Problem:
    """VDPOL, eps = 1e-6, at t = 1 and 2 (Hairer's reference file; the Bari value at t = 2 agrees
    to 3e-14)."""
    d = _stiff("vanderpol_eps1e-6")
    ref = d["references"][2]
    return Problem(
        name="ode/vdpol", kind="ode", fun=_vanderpol(d["params"]["eps"]), x0=np.asarray(d["y0"], dtype=float),
        t_span=(0.0, 2.0), t_ref=np.array([1.0, 2.0]), reference=np.array(ref["y"][:2]),
        rtol=RTOL, source=f"{ref['origin']}: {_sources(ref)}", options={"rtol": 1e-6, "atol": 1e-8},
    )


def _orego(t: Any, y: Any) -> Any:
    xp, _ = namespace(y)
    s, q, w = 77.27, 8.375e-6, 0.161
    return xp.stack([s * (y[1] + y[0] * (1 - q * y[0] - y[1])), (y[2] - (1 + y[0]) * y[1]) / s,
                     w * (y[0] - y[2])])


def orego() -> Problem:
    """OREGO at t = 30, 60, ..., 360 (Hairer's reference file)."""
    d = _stiff("orego")
    ref = d["references"][1]
    return Problem(
        name="ode/orego", kind="ode", fun=_orego, x0=np.asarray(d["y0"], dtype=float),
        t_span=(0.0, 360.0), t_ref=np.asarray(ref["t"]), reference=np.asarray(ref["y"]),
        rtol=RTOL, source=f"{ref['origin']}: {_sources(ref)}", options={"rtol": 1e-6, "atol": 1e-8},
    )


def bruss2d_rhs(ns: int) -> Callable[[Any, Any], Any]:
    """Hairer's BRUSS-2D right-hand side on an ns x ns periodic grid (``br2d_equation.f``).

    y = [u, v], u[(iy-1) ns + ix - 1] at 1-based grid indices; alpha = 0.1, Laplacian scaled by
    alpha ns^2; the forcing 5 for t >= 1.1 in the disc (ix/ns - 0.3)^2 + (iy/ns - 0.6)^2 <= 0.01
    (1-based ix, iy, as in Hairer's code).
    """
    alpha_ns2 = 0.1 * ns**2
    ix = np.arange(1, ns + 1) / ns
    disc = ((ix[None, :] - 0.3) ** 2 + (ix[:, None] - 0.6) ** 2 <= 0.01).astype(float)

    def f(t: Any, y: Any) -> Any:
        xp, asarray = namespace(y)
        u = xp.reshape(y[: ns * ns], (ns, ns))
        v = xp.reshape(y[ns * ns:], (ns, ns))
        forcing = xp.where(asarray(t >= 1.1), 5.0, 0.0) * asarray(disc)  # t: float or 0-d array
        du = 1 + u**2 * v - 4.4 * u + alpha_ns2 * _periodic_laplacian(xp, u) + forcing
        dv = 3.4 * u - u**2 * v + alpha_ns2 * _periodic_laplacian(xp, v)
        return xp.concat([xp.reshape(du, (-1,)), xp.reshape(dv, (-1,))])

    return f


def bruss2d_y0(ns: int) -> np.ndarray:
    """Hairer's initial values: u = 22 yy (1 - yy)^1.5 with yy = (iy-1)/ns, v = 27 xx (1 - xx)^1.5."""
    g = np.arange(ns) / ns
    u = np.repeat(22 * g * (1 - g) ** 1.5, ns)
    v = np.tile(27 * g * (1 - g) ** 1.5, ns)
    return np.concatenate([u, v])


def brusselator_2d(ns: int = 128) -> Problem:
    """BRUSS-2D at t = 1.5 and 11.5: Hairer's reference at ns = 128, computed here at ns = 32."""
    d = _stiff("brusselator_2d")
    if ns == 128:
        refs = d["references"]
        idx = np.asarray(refs[0]["indices_1based"]) - 1
        reference = np.array([refs[0]["y"], refs[1]["y"]])
        source = f"{refs[0]['origin']}: {_sources(refs[0])}; {_sources(refs[1])}"
    else:
        c = load("computed_here.json")["bruss2d"][str(ns)]
        idx = np.asarray(c["indices"])
        reference = np.asarray(c["y"])
        source = (f"Hairer & Wanner II Sect. IV.10 discretization ({d['discretization_exact']['code']}) "
                  f"at ns = {ns}; reference computed_here: {c['method']}")
    return Problem(
        name=f"ode/brusselator2d/{ns}", kind="ode", fun=bruss2d_rhs(ns), x0=bruss2d_y0(ns),
        t_span=(0.0, 11.5), t_ref=np.array([1.5, 11.5]), t_breaks=(1.1,), reference=reference,
        observe=lambda y: y[idx], floor=1.0, rtol=RTOL, source=source, sparse=True,
        quick=ns <= 32, options={"rtol": 1e-6, "atol": 1e-6},
        note="the forcing switches on at t = 1.1 (the integrator restarts there); error absolute "
             "for |y| < 1, as in the reference's own check",
    )


def _brusselator_1d(n: int) -> Callable[[Any, Any], Any]:
    gamma = 0.02 * (n + 1) ** 2

    def f(t: Any, y: Any) -> Any:
        xp, _ = namespace(y)
        u, v = y[0::2], y[1::2]
        one = xp.ones((1,), dtype=y.dtype)
        U = xp.concat([one, u, one])          # u_0 = u_{N+1} = 1
        V = xp.concat([3 * one, v, 3 * one])  # v_0 = v_{N+1} = 3
        du = 1 + u**2 * v - 4 * u + gamma * (U[:-2] - 2 * u + U[2:])
        dv = 3 * u - u**2 * v + gamma * (V[:-2] - 2 * v + V[2:])
        return xp.reshape(xp.stack([du, dv], axis=1), (-1,))

    return f


def brusselator_1d() -> Problem:
    """BRUSS (N = 500, alpha = 0.02) at t = 10, interleaved (u1, v1, u2, v2, ...)."""
    d = _stiff("brusselator_1d")
    ref = d["references"][0]
    n = d["params"]["N"]
    x = np.arange(1, n + 1) / (n + 1)
    y0 = np.stack([1 + 0.5 * np.sin(2 * np.pi * x), 3 * np.ones(n)], axis=1).ravel()
    idx = np.asarray(ref["indices_1based"]) - 1
    return Problem(
        name="ode/brusselator1d", kind="ode", fun=_brusselator_1d(n), x0=y0, t_span=(0.0, 10.0),
        t_ref=np.array([10.0]), reference=np.array([ref["y"]]), observe=lambda y: y[idx],
        rtol=RTOL, source=_sources(ref), sparse=True,
        options={"rtol": 1e-7, "atol": 1e-7},
    )


def problems() -> list[Problem]:
    """The seven stiff problems."""
    return [robertson(), hires(), vanderpol(), orego(), brusselator_2d(32), brusselator_2d(128),
            brusselator_1d()]
