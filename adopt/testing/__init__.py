"""adopt.testing: the public conformance suite (adopt's DifferentiationInterfaceTest).

Scenarios carry a function written once against the array API, an execution point, a different
preparation point, and closed-form answers; :func:`check_backend` crosses them with a backend,
every operator variant (plain, ``out=``, value form, value form with ``out=``), unprepared,
prepared and prepared-twice, and NumPy as well as the backend's own arrays. Testing a new
backend is a few lines of pytest.

The test functions need ``array-api-compat`` (``pip install 'adopt[arrayapi]'``). JAX arrays
are float64 only with ``jax.config.update("jax_enable_x64", True)``, which is the caller's
choice: adopt never flips it.

Examples
--------
>>> import adopt, pytest
>>> from adopt.testing import all_scenarios, check_backend, scenario_ids
>>> @pytest.mark.parametrize("scenario", all_scenarios(), ids=scenario_ids)
... def test_my_backend(scenario):
...     check_backend(adopt.AutoFiniteDiff(), [scenario])
"""

from adopt.operators._common import record_operators
from adopt.testing._check import CheckReport, check_backend, default_tolerance
from adopt.testing._misuse import MISUSE_CASES, check_misuse
from adopt.testing._scenarios import (
    Scenario,
    all_scenarios,
    assign,
    batched_scenarios,
    context_scenarios,
    default_scenarios,
    inplace_scenarios,
    scenario_ids,
)
from adopt.testing._sparse import SparseScenario, check_sparse_backend, sparse_scenarios

__all__ = [
    "Scenario", "default_scenarios", "inplace_scenarios", "context_scenarios",
    "batched_scenarios", "all_scenarios", "scenario_ids", "assign",
    "check_backend", "CheckReport", "default_tolerance",
    "SparseScenario", "sparse_scenarios", "check_sparse_backend", "record_operators",
    "check_misuse", "MISUSE_CASES",
]
