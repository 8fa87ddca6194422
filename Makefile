# The README's two commands: `make demo` and `make test`. Both set up .venv first.
.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh
demo: setup
	.venv/bin/adopt demo
test: setup
	.venv/bin/python -m pytest -n 2
bench: setup
	.venv/bin/python benchmarks/run.py
