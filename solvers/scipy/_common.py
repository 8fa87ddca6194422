"""What every SciPy adapter shares: callbacks in the user's structure, and the result."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from scipy.optimize import OptimizeResult

from adopt.solvers._bundle import Derivatives
from adopt.solvers._pytree import Flat

__all__ = ["user_callback", "finish", "no_user_jac"]


def user_callback(callback: Callable[..., Any] | None, flat: Flat) -> Callable[..., Any] | None:
    """``callback`` seeing ``x`` in the user's structure and array type.

    The wrapper keeps the calling convention SciPy detects from the signature: a callback
    whose only parameter is ``intermediate_result`` gets an ``OptimizeResult``, any other is
    called with ``x`` first (and the solver's further arguments).
    """
    if callback is None or flat.plain:
        return callback
    if set(inspect.signature(callback).parameters) == {"intermediate_result"}:
        def new_style(intermediate_result: OptimizeResult) -> Any:
            res = OptimizeResult(intermediate_result)
            res.x = flat.result(res.x)
            return callback(intermediate_result=res)

        return new_style

    def old_style(xk: Any, *rest: Any) -> Any:
        return callback(flat.result(xk), *rest)

    return old_style


def finish(res: OptimizeResult, d: Derivatives) -> OptimizeResult:
    """The solver's result with ``x`` in the user's structure and the bundle's counts."""
    res.x = d.flat.result(res.x)
    res.update(d.counts())
    return res


def no_user_jac(where: str, jac: Any, backend: Any, fix: str = "") -> None:
    """A derivative the user supplies would compete with the backend's: refuse it."""
    if jac is not None and jac is not False:
        raise ValueError(f"{where}: jac={jac!r} and backend={backend!r} both say how to get the "
                         f"Jacobian; drop jac= to use the backend's exact derivatives{fix}, or "
                         "drop backend= to use SciPy's own")
