# The two commands of the README. Both set up what is missing first (scripts/setup.sh): the
# virtualenv, the package, the official FHIR definitions and, unless MONGODB_URI is set, FerretDB.
.PHONY: run test setup bench mutate

setup:
	@scripts/setup.sh

run: setup
	@.venv/bin/fhir-server serve

test: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/load.py

# Not part of CI: realistic defects put into the modules of the record's rules, the audit trail,
# authentication and the ACKs, one at a time (scripts/mutate.py; score in tests/README.md).
mutate: setup
	.venv/bin/python scripts/mutate.py $(MUTATE_ARGS)
