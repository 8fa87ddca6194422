"""Every ```python block of the README runs, in order, in one namespace, as a reader pastes them.

The blocks build on each other (imports, f, x), so they are executed together; a failure names
the block and its first line."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


def test_readme_blocks_run_in_order():
    ns: dict = {}
    for i, block in enumerate(BLOCKS, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                exec(compile(block, f"README.md python block {i}", "exec"), ns)
            except Exception as e:
                first = block.strip().splitlines()[0]
                raise AssertionError(f"README python block {i} ({first!r}) fails: "
                                     f"{type(e).__name__}: {e}") from e
    # the quick start's results are ordinary writeable NumPy arrays
    g = ns["g"]
    assert isinstance(g, np.ndarray) and g.flags.writeable and g.dtype == np.float64
