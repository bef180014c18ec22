"""The audit trail: one FHIR R4 AuditEvent per interaction (`events.py`, IHE Basic Audit Log Patterns), each
chained by a keyed hash to the previous event of the same patient (`chain.py`, key: `keys.py`) and
checkpointed outside the database (`checkpoints.py`), so that any later change shows (`verify.py`)."""
