"""Server-assigned resource ids."""
import uuid


def new_id() -> str:
    """A random id: unguessable, so ids reveal nothing about how many records exist."""
    return str(uuid.uuid4())
