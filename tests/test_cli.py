"""The `adopt` command line: `adopt demo --quick` end to end, the help texts, `adopt bench`."""

from __future__ import annotations

import pytest

import adopt
from adopt.cli import main

_BACKENDS = {"AutoJAX": adopt.AutoJAX(), "AutoTorch": adopt.AutoTorch(),
             "AutoFiniteDiff": adopt.AutoFiniteDiff()}


def test_demo_quick(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--quick"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert "✓" in out and "✗" not in out
    for name, backend in _BACKENDS.items():
        assert name in out
        if adopt.check_available(backend):
            rows = [line for line in out.splitlines() if line.startswith(name)]
            assert any("gradient" in r and "✓" in r and "×" in r for r in rows), out
        else:
            assert f"{name}" in out and "not installed: pip install" in out
    assert "[1/" in err  # progress lines go to stderr
    if adopt.check_available(adopt.AutoJAX()):
        assert "JAX x64 was turned on for this process" in out


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    if argv[0] == "demo":
        assert "--quick" in out and "x64" in out


def test_bench_help_is_forwarded_to_the_harness(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    assert "--sizes" in capsys.readouterr().out


def test_unknown_command_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_missing_backend_is_shown_with_its_install_hint() -> None:
    import io

    from adopt import cli

    out = io.StringIO()
    checks = {("AutoFiniteDiff", "gradient"): cli._Check(passed=12, failed=0, skipped=0)}
    cli._print_table(out, ["AutoFiniteDiff"], {"gradient": []}, checks, {}, 1000, x64=False)
    text = out.getvalue()
    assert "AutoJAX         not installed: pip install 'adopt[jax]'" in text
    assert "not installed: pip install 'adopt[torch]'" in text
    assert "✓ 12" in text
