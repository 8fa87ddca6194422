"""``adopt problems`` (problems/_cli.py ``run``): the table, the operator union, Markdown, plots."""

from __future__ import annotations

import io
import sys

import pytest

import adopt
from adopt.problems import markdown_table, problem
from adopt.problems._cli import run


def test_run_prints_a_row_per_problem_and_backend(tmp_path) -> None:
    out = io.StringIO()
    md = tmp_path / "table.md"
    code = run(["--kind", "scalar", "--name", "M0.01", "--backend", "fd", "--backend", "torch",
                "--markdown", str(md)], out=out)
    text = out.getvalue()
    assert code == 0, text
    rows = [line for line in text.splitlines() if line.startswith("scalar/kepler/e0.99/M0.01")]
    assert [r.split()[1] for r in rows] == ["AutoFiniteDiff", "AutoTorch"] and all(" ok " in r for r in rows)
    assert "operators called: derivative, second_derivative (2 of 8)" in text
    table = md.read_text()
    assert table.startswith("| problem | backend |") and table.count("| scalar/kepler/") == 2
    assert "| halley | derivative, second_derivative | AutoFiniteDiff, AutoTorch | 1 |" in table


def test_run_exit_code_and_listing_of_failures_and_unreachable() -> None:
    out = io.StringIO()
    code = run(["--name", "nist/Hahn1/start1", "--backend", "fd"], out=out)
    assert code == 0  # nothing failed: the unreachable problem is listed, not run
    assert "not run: nist/Hahn1/start1 on AutoFiniteDiff" in out.getvalue()
    out = io.StringIO()
    assert run(["--name", "nist/BoxBOD/start2", "--backend", "fd", "--quick"], out=out) == 0


def test_progress_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    run(["--kind", "scalar", "--backend", "fd", "--name", "e0.5", "--progress"], out=io.StringIO())
    assert "1/1" in capsys.readouterr().err  # tqdm's bar or the plain counter
    run(["--kind", "scalar", "--backend", "fd", "--name", "e0.5"], out=io.StringIO())
    assert capsys.readouterr().err == ""  # not a terminal: no progress


def test_plot_needs_matplotlib(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(adopt.MissingDependencyError, match="pip install matplotlib"):
        run(["--kind", "scalar", "--backend", "fd", "--quiet", "--plot", str(tmp_path / "f.png")])


def test_markdown_table_lists_the_union_and_the_failures() -> None:
    ok = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff())
    bad = problem("scalar/kepler/e0.5/M1").solve(adopt.AutoFiniteDiff(), maxiter=1)
    text = markdown_table([ok, bad])
    assert "| scalar/kepler/e0.5/M1 | AutoFiniteDiff | halley | ok |" in text
    assert "| FAILED |" in text and "- scalar/kepler/e0.5/M1 on AutoFiniteDiff: maximum number" in text
    assert "Operators called: derivative, second_derivative (2 of 8)." in text


def test_one_run_calls_all_eight_operators() -> None:
    """The union of ``operators`` over one ``adopt problems`` run: a problem per reference
    algorithm family (--name is repeatable) is enough to call every operator of adopt."""
    out = io.StringIO()
    code = run(["--quick", "--backend", "fd", "--name", "mgh/rosenbrock", "--name", "extended_rosenbrock_ls/",
                "--name", "minimize/rosenbrock/2", "--name", "variably_dimensioned/100",
                "--name", "kepler/e0.5/M1"], out=out)
    text = out.getvalue()
    assert code == 0, text
    assert len([line for line in text.splitlines() if " ok " in line]) == 5
    assert ("operators called: derivative, gradient, hessian, hvp, jacobian, pullback, pushforward, "
            "second_derivative (8 of 8)") in text


def test_a_missing_solver_is_listed_as_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cyipopt", None)  # as if cyipopt were not installed
    out = io.StringIO()
    assert run(["--name", "nlp/HS071", "--backend", "fd"], out=out) == 0
    assert "not run: " in out.getvalue() and "cyipopt" in out.getvalue()
