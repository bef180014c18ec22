"""Persistence: the only package that talks to the database (pymongo)."""
