"""The server's signing key (access tokens), generated on first start and kept in the database.

Several workers may start at once: each generates a key and inserts it under the same `_id`; the unique
`_id` keeps the first one, and every worker then uses what the database holds. The private key never
leaves the database or the process, and is never logged.
"""
from __future__ import annotations

import pymongo
from joserfc.jwk import ECKey, KeySet
from pymongo.database import Database

COLLECTION = "auth_keys"
SIGNING = "signing"
ALGORITHM = "ES256"


def signing_keys(db: Database) -> KeySet:
    """The key set (one P-256 key) the server signs with; created the first time."""
    stored = db[COLLECTION].find_one({"_id": SIGNING})
    if stored is None:
        key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
        try:
            db[COLLECTION].insert_one({"_id": SIGNING, "jwk": key.as_dict(private=True)})
        except pymongo.errors.DuplicateKeyError:
            pass  # another worker was first: use its key
        stored = db[COLLECTION].find_one({"_id": SIGNING})
    return KeySet([ECKey.import_key(stored["jwk"])])


def public_jwks(keys: KeySet) -> dict:
    """The JWKS clients and resource servers verify tokens with (no private part)."""
    return keys.as_dict(private=False)
