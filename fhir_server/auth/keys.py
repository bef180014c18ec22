"""The server's signing key (access tokens), generated on first start and kept in the database.

Several workers may start at once: each generates a key and inserts it under the same `_id`; the unique
`_id` keeps the first one, and every worker then uses what the database holds (storage/auth.py). The
private key never leaves the database or the process, and is never logged.
"""
from __future__ import annotations

from joserfc.jwk import ECKey, KeySet
from pymongo.database import Database

from ..storage.auth import KeyStore

ALGORITHM = "ES256"


def signing_keys(db: Database) -> KeySet:
    """The key set (one P-256 key) the server signs with; created the first time."""
    def generate() -> dict:
        key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
        return key.as_dict(private=True)
    return KeySet([ECKey.import_key(KeyStore(db).signing_key(generate))])


def public_jwks(keys: KeySet) -> dict:
    """The JWKS clients and resource servers verify tokens with (no private part)."""
    return keys.as_dict(private=False)
