# The two commands of the README. Both set up what is missing first (scripts/setup.sh): the
# virtualenv, the package, the official FHIR definitions and, unless MONGODB_URI is set, FerretDB.
.PHONY: run test setup bench

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/fhir-server serve

test: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/load.py
