"""Size checks of dense results at preparation: a warning above a threshold, an error when the
result cannot fit in the memory this machine has available."""

from __future__ import annotations

import os
import sys
import warnings

from adopt._errors import AdoptError

__all__ = ["DenseSizeWarning", "DenseSizeError", "set_dense_warning", "check_dense_size"]

_WARN_BYTES = [2**30]  # 1 GiB; see set_dense_warning


class DenseSizeWarning(UserWarning):
    """A dense Jacobian or Hessian (and the products that build it) will take a lot of memory.

    Silence it with ``warnings.simplefilter("ignore", adopt.DenseSizeWarning)`` or raise the
    threshold with :func:`set_dense_warning`.
    """


class DenseSizeError(AdoptError, MemoryError):
    """A dense Jacobian or Hessian would not fit in the memory available on this machine."""


def set_dense_warning(nbytes: int | None) -> int | None:
    """Set the size above which preparing a dense Jacobian or Hessian warns; returns the old one.

    ``None`` turns the warning off. The error for results larger than the available memory
    stays.

    Examples
    --------
    >>> import adopt
    >>> old = adopt.set_dense_warning(4 * 2**30)   # warn above 4 GiB
    >>> adopt.set_dense_warning(old) == 4 * 2**30
    True
    """
    old = _WARN_BYTES[0]
    _WARN_BYTES[0] = nbytes
    return old


def _available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_dense_size(where: str, what: str, shape: tuple[int, int], nbytes: int) -> None:
    """Warn or raise before a dense result of ``shape`` whose computation peaks at ``nbytes``."""
    limit = _WARN_BYTES[0]
    if limit is None or nbytes <= limit:
        return
    size = f"{what} of shape {shape} needs about {nbytes / 2**30:.1f} GiB"
    fix = ("use adopt.AutoSparse(backend) for a sparse result, or pushforward / pullback / hvp "
           "for products with it")
    available = _available()
    if available is not None and nbytes > available:
        raise DenseSizeError(f"{where}: the dense {size}, more than the {available / 2**30:.1f} "
                             f"GiB of memory available; {fix}")
    warnings.warn(f"{where}: the dense {size}; {fix} (adopt.set_dense_warning(nbytes) changes "
                  "this threshold)", DenseSizeWarning, stacklevel=user_stacklevel())


def user_stacklevel() -> int:
    """The ``stacklevel`` of ``warnings.warn`` that points at the caller's code, outside adopt."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("adopt."):
        frame, level = frame.f_back, level + 1
    return level
