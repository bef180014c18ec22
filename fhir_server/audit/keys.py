"""The audit key: the secret the chain's links and the checkpoints are MACed with (HMAC-SHA256).

It is kept outside the database, so that whoever can write to the database cannot recompute a link: the
file `FHIR_AUDIT_KEY_FILE`, by default `.data/audit.key` beside the local database (git-ignored), created on
first use with mode 0600 (32 random bytes, hex). The server and `fhir-server audit verify` must read the same
file; losing it makes every keyed link unverifiable, so back it up apart from the database.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_KEY_FILE = Path(__file__).resolve().parents[2] / ".data" / "audit.key"
_KEY_BYTES = 32


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    path: Path

    def mac(self, message: str) -> str:
        """HMAC-SHA256 of `message` (UTF-8), hex."""
        return hmac.new(self.secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def key_file() -> Path:
    """Where the key is: FHIR_AUDIT_KEY_FILE, else DEFAULT_KEY_FILE."""
    return Path(os.environ.get("FHIR_AUDIT_KEY_FILE") or DEFAULT_KEY_FILE)


def load_key(path: Path | None = None) -> AuditKey:
    """The key in `path` (default: `key_file()`), created (mode 0600) when there is none yet."""
    path = path or key_file()
    if not path.exists():
        _create(path)
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < _KEY_BYTES:
        raise ValueError(f"{path} is not an audit key (at least {_KEY_BYTES} bytes, hex)")
    return AuditKey(secret, path)


def _create(path: Path) -> None:
    """Writes a new key aside, then links it into place: of processes starting together exactly one key wins,
    and nobody reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(draft, path)
    except FileExistsError:  # another process made it first: theirs is the key
        pass
    finally:
        draft.unlink()
