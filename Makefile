# The README's two commands:
#   make demo   the main job (simulated closed loop on shipped defaults)
#   make test   the whole test suite (what .ci/run calls)
# Both first run scripts/setup.sh, which installs whatever is missing and is fast when
# nothing is. ARGS / PYTEST_ARGS pass extra arguments through.
SHELL := /bin/bash
IN_ENV := scripts/in-env

.PHONY: setup demo test lint format bench

setup:
	@scripts/setup.sh

demo: setup
	@$(IN_ENV) tracegen demo $(ARGS)

test: setup
	@$(IN_ENV) python -m pytest $(PYTEST_ARGS)

lint: setup
	@$(IN_ENV) ruff check . && $(IN_ENV) ruff format --check .

format: setup
	@$(IN_ENV) ruff check --fix . && $(IN_ENV) ruff format .

# Every benchmark with its defaults (each writes benchmarks/results/*.json and prints a table);
# BENCH=benchmarks/bench_robot_ik.py runs one.
bench: setup
	@set -e; for script in $(or $(BENCH),benchmarks/bench_*.py); do echo "== $$script"; $(IN_ENV) python $$script; done
