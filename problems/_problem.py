"""The two records of the problem library: a :class:`Problem` and the :class:`Outcome` of a solve."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

import adopt

__all__ = ["Problem", "Outcome", "KINDS"]

#: the kinds of problem, each solved by its own route (``nlp`` is added by ``problems/nlp.py``)
KINDS = ("least_squares", "root", "ode", "minimize", "scalar", "nlp")


@dataclass(frozen=True)
class Problem:
    """One test problem: a function written once against the array API, a start, a reference.

    Parameters
    ----------
    name : str
        ``"family/instance[/size]"``, e.g. ``"nist/Misra1a/start1"``, ``"ode/robertson"``.
    kind : str
        ``"least_squares"`` (``fun`` is the residual vector r(x)), ``"root"`` (F(x) = 0),
        ``"minimize"`` (scalar f(x)), ``"ode"`` (``fun(t, y)``, the right-hand side) or
        ``"scalar"`` (a scalar equation g(x) = 0 of a scalar x).
    fun : callable
        Written once against the array API (``array_api_compat.array_namespace``): it runs on
        NumPy, JAX and PyTorch arrays. Problem data are closure constants.
    x0 : numpy.ndarray
        The start (float64); for ODEs the initial value ``y0`` at ``t_span[0]``.
    reference : numpy.ndarray
        What the solution is compared with, after ``observe``: certified parameters (NIST),
        a root, ``y(t)`` at the times ``t_ref`` (one row per time, ODEs).
    rtol : float
        Tolerance on :attr:`Outcome.error` for the automatic-differentiation backends.
    source : str
        Where the problem and its reference come from (repository, commit, path; or
        ``computed_here`` with the method, for values this library computed).
    fd_rtol : float, optional
        The looser tolerance that applies to ``AutoFiniteDiff`` (default: ``rtol``).
    floor : float
        The error is ``max |obs - ref| / max(|ref|, floor)``: relative, componentwise, and
        absolute below ``floor`` (for references with zero components).
    observe : callable, optional
        NumPy function from a solution (ODE: the state at one time) to the compared quantities.
    reference_value : float, optional
        A certified objective value (NIST: the residual sum of squares), checked with
        ``|value - reference_value| <= value_atol + value_rtol * |reference_value|``.
    t_span, t_ref : ODEs only
        Integration interval and the reference times (a 1-D array).
    t_breaks : tuple of float
        ODEs: times where ``fun`` is discontinuous in ``t``; the integrator restarts there.
    sparse : bool
        The Jacobian or Hessian is sparse: the routes wrap the backend in ``AutoSparse``.
    options : mapping
        Default options of the route (method, iteration limits, integrator tolerances).
    fd_options : mapping
        Options that replace ``options`` on ``AutoFiniteDiff`` (a looser stopping test where
        difference quotients cannot meet the exact one).
    quick : bool
        Part of the quick slice (``adopt problems --quick``, the tests): small and fast.
    unreachable : mapping
        Backend label (``"AutoFiniteDiff"``, ``"AutoFiniteDiff(forward)"``, ``"AutoTorch"``) ->
        why that backend cannot solve this problem: ``solve`` raises ``NotImplementedError``
        with the reason.
    solver : callable, optional
        ``solver(problem, backend, options) -> (Result, method)``: the adopt route of a kind that
        has none built in (``nlp``).
    preconditioner : callable, optional
        ``preconditioner(x) -> (v -> M v)`` for Newton–Krylov, ``M`` approximating the inverse
        Jacobian from problem knowledge (the Bratu problem's Laplacian).
    note : str
        What a user should know (conditioning, multiple roots, why a tolerance is loose).

    Examples
    --------
    >>> from adopt.problems import problem
    >>> p = problem("nist/Misra1a/start1")
    >>> p.kind, p.n, float(p.reference_value)
    ('least_squares', 2, 0.12455138894)
    >>> round(float((p.fun(p.reference) ** 2).sum()), 8)
    0.12455139
    """

    name: str
    kind: str
    fun: Callable[..., Any]
    x0: np.ndarray
    reference: np.ndarray
    rtol: float
    source: str
    fd_rtol: float | None = None
    floor: float = 0.0
    observe: Callable[[np.ndarray], np.ndarray] | None = None
    reference_value: float | None = None
    value_rtol: float = 0.0
    value_atol: float = 0.0
    t_span: tuple[float, float] | None = None
    t_ref: np.ndarray | None = None
    t_breaks: tuple[float, ...] = ()
    sparse: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    fd_options: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = True
    unreachable: Mapping[str, str] = field(default_factory=dict)
    solver: Callable[..., Any] | None = None
    preconditioner: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Problem {self.name!r}: kind must be one of {KINDS}; got {self.kind!r}")
        x0 = np.asarray(self.x0)
        if x0.dtype != np.float64:
            raise TypeError(f"Problem {self.name!r}: x0 must be float64; got {x0.dtype}")
        if self.kind == "ode" and (self.t_span is None or self.t_ref is None):
            raise ValueError(f"Problem {self.name!r}: an ODE needs t_span and t_ref")

    @property
    def n(self) -> int:
        """The number of unknowns (ODE: of state components)."""
        return int(np.asarray(self.x0).size)

    @property
    def y0(self) -> np.ndarray:
        """The initial value of an ODE (the same array as ``x0``)."""
        return self.x0

    def tolerance(self, backend: Any) -> float:
        """The tolerance on :attr:`Outcome.error` that applies to ``backend``."""
        if _finite_differences(backend) and self.fd_rtol is not None:
            return self.fd_rtol
        return self.rtol

    def options_for(self, backend: Any) -> dict[str, Any]:
        """The route's default options on ``backend``: :attr:`options`, updated by
        :attr:`fd_options` for finite differences."""
        return {**self.options, **(self.fd_options if _finite_differences(backend) else {})}

    def error(self, solution: np.ndarray) -> float:
        """The largest componentwise relative deviation of ``solution`` from the reference.

        ``solution`` is what the route returns: the parameters, the root, the minimiser, or
        for an ODE the states at ``t_ref`` (one row per time).
        """
        obs = self.observed(solution)
        ref = np.asarray(self.reference, dtype=float)
        if obs.shape != ref.shape:
            raise ValueError(f"{self.name}: observed shape {obs.shape} != reference shape {ref.shape}")
        scale = np.maximum(np.abs(ref), self.floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = np.abs(obs - ref) / np.where(scale > 0, scale, 1.0)
        return float(np.max(dev)) if np.all(np.isfinite(dev)) else float("inf")

    def observed(self, solution: np.ndarray) -> np.ndarray:
        """``observe`` applied to the solution (row by row for an ODE)."""
        sol = np.asarray(solution, dtype=float)
        if self.observe is None:
            return sol
        if self.kind == "ode":
            return np.stack([np.asarray(self.observe(row), dtype=float) for row in sol])
        return np.asarray(self.observe(sol), dtype=float)

    def value_ok(self, value: float) -> bool:
        """Whether an objective value agrees with ``reference_value`` (True when there is none)."""
        if self.reference_value is None:
            return True
        ref = self.reference_value
        return bool(abs(value - ref) <= self.value_atol + self.value_rtol * abs(ref))

    def solve(self, backend: Any, **options: Any) -> "Outcome":
        """Solve with adopt's reference algorithm (``route="adopt"``) on ``backend``.

        Options override :attr:`options`; see :func:`adopt.problems.solve` for the routes and
        their options. Raises ``NotImplementedError`` (with the reason) when ``backend``
        cannot run this problem.

        Examples
        --------
        >>> import adopt
        >>> from adopt.problems import problem
        >>> out = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff())
        >>> out.success, sorted(out.operators)
        (True, ['derivative', 'second_derivative'])
        """
        from adopt.problems._solve import solve

        return solve(self, backend, **options)


#: the labels of the finite-difference backends, as ``Problem.unreachable`` keys them
FD_LABELS = ("AutoFiniteDiff", "AutoFiniteDiff(forward)", "AutoFiniteDiff(complex)")


def fd_unreachable(why: str) -> dict[str, str]:
    """``Problem.unreachable`` for every finite-difference backend, with the reason ``why``."""
    return dict.fromkeys(FD_LABELS, why)


def _finite_differences(backend: Any) -> bool:
    dense = backend.dense if isinstance(backend, adopt.AutoSparse) else backend
    return isinstance(dense, adopt.AutoFiniteDiff)


@dataclass(frozen=True)
class Outcome:
    """The result of :meth:`Problem.solve`.

    Attributes
    ----------
    problem, backend, route, method : str
        What ran.
    success : bool
        The algorithm converged *and* its answer agrees with the reference within
        ``tolerance`` (and the certified value, where there is one).
    converged : bool
        The algorithm's own verdict.
    message : str
        Why it stopped; on failure, what failed.
    error : float
        The largest componentwise relative deviation from the reference (``Problem.error``).
    tolerance : float
        The tolerance ``error`` was held to (looser for finite differences).
    iterations : int
        Iterations (Newton / Gauss–Newton / Halley steps; ODE: accepted steps).
    nfev : int
        Evaluations of ``fun`` made by the algorithm itself (values, not derivatives).
    nder : int
        Calls of adopt operators, as recorded.
    time : float
        Wall time of the solve in seconds, preparation included.
    history : tuple of float
        Per iteration: residual or gradient norm (ODE: step sizes).
    operators : frozenset of str
        The adopt operator families the run called, recorded from the calls.
    solution : numpy.ndarray
        The answer (ODE: the states at ``t_ref``).
    value : float or None
        The objective at the answer (least squares: the residual sum of squares).
    info : mapping
        Extra facts: colors of a sparse Jacobian, rejected steps, Krylov iterations.
    """

    problem: str
    backend: str
    route: str
    method: str
    success: bool
    converged: bool
    message: str
    error: float
    tolerance: float
    iterations: int
    nfev: int
    nder: int
    time: float
    history: tuple[float, ...]
    operators: frozenset[str]
    solution: np.ndarray
    value: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
