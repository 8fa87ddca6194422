"""MGH #30 (Broyden tridiagonal), written once for NumPy, JAX and PyTorch, and its Jacobian:
the shared system of the least_squares and root tests."""

import numpy as np
import scipy.sparse as sp
from array_api_compat import array_namespace


def broyden_tridiagonal(x):
    xp = array_namespace(x)
    z = xp.zeros(1, dtype=x.dtype)
    left, right = xp.concat([z, x[:-1]]), xp.concat([x[1:], z])
    return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0


def broyden_jac(x):
    """The tridiagonal Jacobian as a CSR array."""
    n = x.size
    return sp.diags([-np.ones(n - 1), 3.0 - 4.0 * x, -2.0 * np.ones(n - 1)], [-1, 0, 1], format="csr")
