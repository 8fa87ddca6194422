"""Package data: the reference files copied from ``shared/reference`` (see ``data/SOURCES.md``)."""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

__all__ = ["load"]


@functools.cache
def load(name: str) -> Any:
    """The parsed JSON file ``problems/data/<name>`` (read once: the files never change).

    Examples
    --------
    >>> from adopt.problems._data import load
    >>> load("nist/Misra1a.json")["certified_rss"]
    0.12455138894
    """
    return json.loads(files("adopt.problems").joinpath("data", *name.split("/")).read_text())
