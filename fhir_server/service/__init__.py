"""The FHIR interactions: plain arguments in, plain data out; no web framework here."""
