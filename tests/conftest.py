"""Shared test setup: float64 JAX for the session, and the backends every suite is crossed with.

adopt never switches JAX's x64 mode on; the test suite is a user and chooses it here, at import,
before any test creates a jax array. Tests that need x64 off use ``with jax.enable_x64(False):``
and never leave it off.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import jax
import pytest

from adopt import AutoFiniteDiff, AutoJAX, AutoTorch, SecondOrder

jax.config.update("jax_enable_x64", True)

# Every unprepared call prepares (and compiles) anew, and the suite prepares the same functions
# many times: a per-process persistent compilation cache turns the repeats into cache hits.
# It changes no result and no tracing (the no-retrace tests count traces, not compilations).
_JAX_CACHE = tempfile.mkdtemp(prefix="adopt-tests-jax-cache-")
atexit.register(shutil.rmtree, _JAX_CACHE, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _JAX_CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

#: dense backends: every scenario (first order, and second order in their default combination)
FIRST_ORDER_BACKENDS = [
    AutoJAX(),
    AutoTorch(),
    AutoFiniteDiff(),
    AutoFiniteDiff(method="forward"),
    AutoFiniteDiff(method="complex"),
]


def _so(outer_mode: str, inner_mode: str, cls: type) -> SecondOrder:
    return SecondOrder(cls(mode=outer_mode), cls(mode=inner_mode))


#: explicit second-order combinations: second-order scenarios only
SECOND_ORDER_BACKENDS = [
    *(_so(o, i, AutoJAX) for o, i in [("forward", "reverse"), ("reverse", "reverse"),
                                      ("reverse", "forward"), ("forward", "forward")]),
    *(_so(o, i, AutoTorch) for o, i in [("forward", "reverse"), ("reverse", "reverse"),
                                        ("reverse", "forward"), ("forward", "forward")]),
    SecondOrder(AutoFiniteDiff(), AutoJAX()),
    SecondOrder(AutoFiniteDiff(), AutoTorch()),
]

_MODE = {"forward": "F", "reverse": "R"}


def backend_id(b: object) -> str:
    """Short readable pytest ids: AutoJAX, FD-central, SO-JAX-FoR, SO-FD-over-Torch."""
    if isinstance(b, SecondOrder):
        o, i = b.outer, b.inner
        if isinstance(o, AutoFiniteDiff):
            return f"SO-FD-over-{type(i).__name__[4:]}"
        return f"SO-{type(o).__name__[4:]}-{_MODE[o.mode]}o{_MODE[i.mode]}"
    if isinstance(b, AutoFiniteDiff):
        return f"FD-{b.method}"
    return type(b).__name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the fixtures ``backend`` (dense backends) and ``second_order_backend``,
    unless the test parametrizes that name itself."""
    own = {name.strip() for m in metafunc.definition.iter_markers("parametrize")
           for name in (m.args[0].split(",") if isinstance(m.args[0], str) else m.args[0])}
    for name, backends in (("backend", FIRST_ORDER_BACKENDS),
                           ("second_order_backend", SECOND_ORDER_BACKENDS)):
        if name in metafunc.fixturenames and name not in own:
            metafunc.parametrize(name, backends, ids=backend_id)


@pytest.fixture
def x64_off():
    """JAX with x64 disabled for the duration of one test, restored afterwards."""
    with jax.enable_x64(False):
        yield
