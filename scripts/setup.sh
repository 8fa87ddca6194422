#!/usr/bin/env bash
# Create .venv and install adopt with every optional backend and the test/benchmark peers.
# torch==2.13.0 is installed first: it is the CPU build; a plain "torch" requirement could pull
# a multi-GB CUDA build. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.adopt-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[all,bench]"
  touch "$stamp"
fi
