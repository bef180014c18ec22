"""Persistence: the only package that talks to the database (pymongo)."""
from pymongo.errors import PyMongoError as DatabaseError  # noqa: F401  (lets the HTTP layer answer 503)
