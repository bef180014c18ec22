"""SMART App Launch v2 scopes: `<context>/<type>.<permissions>` (`system/Patient.rs`, `patient/*.cruds`).

Context is `system` (backend software), `user` (a professional's rights) or `patient` (one patient's record);
type is a resource type or `*`; permissions are a subset of `c r u d s` in that order. The SMART v1 forms
`.read` and `.write` are read as `.rs` and `.cud`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PERMISSIONS = "cruds"
_SCOPE = re.compile(r"(system|user|patient)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str  # or "*"
    permissions: str

    def __str__(self) -> str:
        return f"{self.context}/{self.resource_type}.{self.permissions}"


def parse_scope(text: str) -> Scope | None:
    """The scope `text` names, None for anything else (`openid`, `launch`, a malformed scope)."""
    match = _SCOPE.fullmatch(text)
    if not match or not match[3]:
        return None
    permissions = _V1.get(match[3], match[3])
    return Scope(match[1], match[2], permissions)


def granted(requested: list[str], allowed: list[str]) -> list[str]:
    """The requested scopes the allowed ones cover (each narrowed to what is allowed)."""
    holds = [s for s in map(parse_scope, allowed) if s]
    result = []
    for text in requested:
        scope = parse_scope(text)
        if scope is None:
            continue
        held = {p for h in holds if h.context == scope.context and h.resource_type in ("*", scope.resource_type)
                for p in h.permissions}
        permissions = "".join(p for p in PERMISSIONS if p in scope.permissions and p in held)
        if permissions:
            result.append(str(Scope(scope.context, scope.resource_type, permissions)))
    return list(dict.fromkeys(result))


class Grants:
    """What a token's scopes allow: `allows("Patient", "r")`. A software's token holds `system/` and `user/`
    scopes, granting on every resource of a type; a patient's token holds `patient/` scopes, granting within
    their own record only (api/guard.py keeps them there)."""

    def __init__(self, scopes: list[str], patient_context: bool) -> None:
        contexts = ("patient",) if patient_context else ("system", "user")
        self.scopes = [s for s in map(parse_scope, scopes) if s and s.context in contexts]

    def allows(self, resource_type: str, permissions: str) -> bool:
        held = {p for s in self.scopes if s.resource_type in ("*", resource_type) for p in s.permissions}
        return set(permissions) <= held
