"""The benchmark harness runs end to end at n = 10 with one block and writes its results.

No timing assertions: only that every case runs, adopt agrees with the bare framework, and the
CSV and markdown files have the expected shape with positive, finite times.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the harness lives in benchmarks/, next to its scripts
import _harness  # noqa: E402
import dense_cases  # noqa: E402
import run  # noqa: E402

COLUMNS = ["operator", "backend", "n", "adopt_us", "bare_us", "ratio", "baseline",
           "adopt_min_us", "bare_min_us", "ratio_min", "ratio_paired", "agree"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("bench")
    code = run.main(["--sizes", "10", "--blocks", "1", "--min-time", "0", "--out-dir", str(out)])
    assert code == 0
    with (out / "dense.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return out, rows


def test_csv_columns_and_times(results: tuple[Path, list[dict[str, str]]]) -> None:
    out, rows = results
    with (out / "dense.csv").open() as fh:
        assert next(csv.reader(fh)) == COLUMNS
    assert rows
    for r in rows:
        for col in ("adopt_us", "bare_us", "ratio", "adopt_min_us", "bare_min_us", "ratio_min", "ratio_paired"):
            v = float(r[col])
            assert math.isfinite(v) and v > 0, (col, r)
        assert r["agree"] == "True", r
        assert int(r["n"]) in (1, 10), r
        assert r["baseline"]


def test_every_operator_on_every_installed_backend(results: tuple[Path, list[dict[str, str]]]) -> None:
    _, rows = results
    got = {(r["backend"], r["operator"]) for r in rows}
    want = {(s.backend, s.operator)
            for s in dense_cases.dense_specs(sizes=(10,), matrix_sizes=(10,), numpy_input_n=None)}
    assert got == want


def test_markdown_table(results: tuple[Path, list[dict[str, str]]]) -> None:
    out, rows = results
    md = (out / "dense.md").read_text()
    assert "| operator | backend | n | adopt µs | bare µs | ratio |" in md
    assert md.count("\n| ") >= len(rows) + 1  # header + one line per case


def test_measure_interleaves_and_returns_times() -> None:
    a, b = _harness.measure(lambda: sum(range(50)), lambda: sum(range(5)), blocks=3, min_time=1e-3)
    assert a.blocks == b.blocks == 3 == len(a.per_block) == len(b.per_block)
    assert min(a.per_block) == a.min and sorted(a.per_block)[1] == a.median
    assert _harness.paired_ratio(a, a) == 1.0
    assert a.calls >= 1 and b.calls >= 1
    assert 0 < a.min <= a.median and 0 < b.min <= b.median
