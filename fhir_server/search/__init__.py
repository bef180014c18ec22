"""Turning search parameters into store queries."""
