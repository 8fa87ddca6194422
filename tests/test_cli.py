"""The `adopt` command line (adopt.problems.cli): `adopt demo --quick` end to end, the exit code
on a failed check, the install hints, the help texts, `adopt problems` and `adopt bench`."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import re

import pytest

import adopt
from adopt.problems import cli
from adopt.problems.cli import main

_BACKENDS = ("AutoJAX", "AutoTorch", "AutoFiniteDiff")
_SECTIONS = ("1. Conformance", "2. Prepared-call cost at n = 100", "3. SciPy adapters",
             "4. adopt problems")


def test_demo_quick(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--quick"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "✗" not in out and out.rstrip().endswith("✓ every check passed")
    positions = [out.index(s) for s in _SECTIONS]
    assert positions == sorted(positions), out
    conformance, timing, scipy, problems = (out[a:b] for a, b in zip(positions, positions[1:] + [None]))
    for name in _BACKENDS:
        if not adopt.check_available(getattr(adopt, name)()):
            assert f"{name}: not installed: pip install" in out
            continue
        row = next(line for line in conformance.splitlines() if line.startswith(name))
        assert row.count("✓") == 9, row  # the 8 operators and AutoSparse
        assert any(line.startswith(name) and "gradient" in line and "×" in line
                   for line in timing.splitlines()), timing
        assert sum(line.startswith(("minimize", "least_squares")) and name in line and " ✓ " in line
                   for line in scipy.splitlines()) == 2, scipy
        assert f"nist/Misra1a/start1  {name}" in problems and "FAILED" not in problems
    # the four routes of issue 8 against plain SciPy, on the first of JAX / torch installed
    routes = [line for line in scipy.splitlines()
              if line.startswith(("minimize(rosenbrock n=200", "least_squares(broyden",
                                  "newton_krylov(bratu", "solve_ivp(brusselator"))]
    assert len(routes) == 4 and all(re.match(r".*?\)\s+✓\s", line) and line.endswith("×") for line in routes), scipy
    assert "[conformance]" in err and "[timing]" in err  # progress lines go to stderr
    if adopt.check_available(adopt.AutoJAX()):
        assert "JAX x64 was turned on for this process" in out


def test_a_failed_check_fails_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(installed, quick, out, progress):
        failures: list[str] = []
        print("✗" if cli._attempt(lambda: 1 // 0, "a check", failures) is None else "✓", file=out)
        return failures

    monkeypatch.setattr(cli, "_SECTIONS", (failing, lambda *a: []))
    out = io.StringIO()
    assert cli.demo(out=out, progress=lambda msg: None) == 1
    text = out.getvalue()
    assert "\n✗\n" in text and "✗ a check: ZeroDivisionError" in text
    assert "every check passed" not in text


def test_missing_backend_is_shown_with_its_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_SECTIONS", ())
    monkeypatch.setattr(adopt, "check_available", lambda b: not isinstance(b, adopt.AutoJAX))
    out = io.StringIO()
    assert cli.demo(out=out, progress=lambda msg: None) == 0
    assert "AutoJAX: not installed: pip install 'adopt[jax]'" in out.getvalue()
    assert "AutoTorch: not installed" not in out.getvalue()


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    if argv[0] == "demo":
        assert "--quick" in out and "x64" in out
    else:
        assert "problems" in out and "bench" in out


def test_problems_is_forwarded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems", "--kind", "scalar", "--backend", "fd", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "scalar/kepler/e0.5/M1" in out and "AutoFiniteDiff" in out


def test_bench_help_is_forwarded_to_the_harness(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    assert "--sizes" in capsys.readouterr().out


def test_unknown_command_fails() -> None:
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_the_console_script_is_adopt_problems_cli() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="adopt")
    assert script.value == "adopt.problems.cli:main"
    assert importlib.util.find_spec("adopt.cli") is None  # adopt/ imports no problems, no solvers
