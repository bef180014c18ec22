"""The audit trail: one FHIR R4 AuditEvent per interaction (`events.py`, IHE Basic Audit Log Patterns), each
chained by hash to the previous event of the same patient so that any later change shows (`chain.py`)."""
