"""The NumPy tracer (adopt._sparse.detection.numpy): the array API, buffers and views written
in place, more NumPy operations with exact global patterns, and what it needs to import."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from adopt._sparse.detectors import (
    ConservativeSparsityWarning,
    SparsityDetectionError,
    TracerSparsityDetector,
)

DETECT = TracerSparsityDetector()


def banded(n, lo, hi):
    """Boolean n x n pattern with ones for lo <= column - row <= hi."""
    i, j = np.indices((n, n))
    return (j - i >= lo) & (j - i <= hi)


def test_numpy_array_api_namespace():
    array_api_compat = pytest.importorskip("array_api_compat")

    def f(x):
        xp = array_api_compat.array_namespace(x)
        y = xp.zeros((5,), dtype=xp.float64)
        y[1:] = x[1:] * x[:-1]
        m = xp.reshape(x[:4], (2, 2))
        z = xp.concat([xp.sum(xp.permute_dims(m, (1, 0))[0] ** 2)[None], xp.asarray(x)[:1]])
        return xp.concat([y, z, xp.linalg.vector_norm(x[3:])[None]])

    P = DETECT.jacobian_sparsity(f, np.ones(5), framework="numpy").toarray()
    expected = np.zeros((8, 5), dtype=bool)
    expected[1:5] = banded(5, -1, 0)[1:]
    expected[5, [0, 2]] = expected[6, 0] = expected[7, [3, 4]] = True
    np.testing.assert_array_equal(P, expected)


def test_numpy_inplace_function_and_views():
    def g_inplace(y, x):  # writes into y, like f!(y, x)
        Y = y.reshape(2, 3)  # a view: writes go to y
        Y[0] = x[:3] ** 2
        Y[1, ::2] = x[3] * x[4]
        np.add.at(y, [4, 4], x[5])

    def f(x):
        y = np.empty_like(x)
        snapshot = y[[0, 1]]  # a copy, taken before the writes
        g_inplace(y, x)
        return np.concatenate([y, snapshot])

    P = DETECT.jacobian_sparsity(f, np.ones(6), framework="numpy").toarray()
    expected = np.zeros((8, 6), dtype=bool)
    expected[[0, 1, 2], [0, 1, 2]] = True
    expected[3, [3, 4]] = expected[5, [3, 4]] = True
    expected[4, 5] = True
    np.testing.assert_array_equal(P, expected)


NUMPY_OPS = [  # (f, n, expected pattern builder) -- exact global patterns
    (lambda x: np.cumsum(x), 4, lambda: np.tril(np.ones((4, 4), bool))),
    (lambda x: np.max(x.reshape(2, 2), axis=1), 4, lambda: np.kron(np.eye(2), np.ones((1, 2))).astype(bool)),
    (lambda x: np.where(x > 0, x, x[::-1] ** 2), 3, lambda: np.eye(3, dtype=bool) | np.eye(3, dtype=bool)[::-1]),
    (lambda x: np.clip(x, -1, 1) * 2, 3, lambda: np.eye(3, dtype=bool)),
    (lambda x: np.pad(x, 1)[:-1], 3, lambda: np.vstack([np.zeros((1, 3), bool), np.eye(3, dtype=bool)])),
    (lambda x: np.stack([x, x[::-1]]).ravel(), 2, lambda: np.array([[1, 0], [0, 1], [0, 1], [1, 0]], bool)),
    (lambda x: np.sort(x), 3, lambda: np.ones((3, 3), bool)),
    (lambda x: np.einsum("ij,j->i", np.triu(np.ones((3, 3))), x), 3, lambda: np.triu(np.ones((3, 3), bool))),
    (lambda x: np.convolve(x, [1.0, -1.0], mode="valid"), 4, lambda: banded(4, 0, 1)[:-1]),
    (lambda x: np.linalg.norm(x[:2]) + x[2:], 4, lambda: np.array([[1, 1, 1, 0], [1, 1, 0, 1]], bool)),
    (lambda x: np.array([x[0] ** 2, x[1] * x[2], 3.0]), 3, lambda: np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], bool)),
    (lambda x: sp.diags([1.0, 2.0, 0.0]) @ x, 3, lambda: np.diag([True, True, False])),
    (lambda x: x.astype(np.int64) + x[::-1], 2, lambda: np.eye(2, dtype=bool)[::-1]),
    (lambda x: np.diff(x, prepend=0.0), 3, lambda: banded(3, -1, 0)),
    (lambda x: np.cross(x[:3], x[3:]), 6, lambda: np.array([[0, 1, 1, 0, 1, 1], [1, 0, 1, 1, 0, 1], [1, 1, 0, 1, 1, 0]], bool)),
]


@pytest.mark.parametrize("case", range(len(NUMPY_OPS)))
def test_numpy_ops(case):
    f, n, expected = NUMPY_OPS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservativeSparsityWarning)
        P = DETECT.jacobian_sparsity(f, np.ones(n), framework="numpy").toarray()
    np.testing.assert_array_equal(P, expected())


def test_numpy_asarray_inside_f_raises():
    with pytest.raises(SparsityDetectionError, match="np.asarray"):
        DETECT.jacobian_sparsity(lambda x: np.asarray(x) * 2, np.ones(3), framework="numpy")


def test_import_needs_only_numpy_and_scipy():
    code = ("import sys, adopt._sparse.detectors, adopt._sparse.detection.numpy; "
            "bad = [m for m in ('torch', 'jax', 'asdex') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
