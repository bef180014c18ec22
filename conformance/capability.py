"""What a server declares in its CapabilityStatement, asked the way scenarios state their `requires`."""
from __future__ import annotations


class Declared:
    def __init__(self, statement: dict) -> None:
        self.statement = statement
        rest = next((r for r in statement.get("rest") or [] if r.get("mode") == "server"), {})
        self.rest = rest
        self.resources = {r.get("type"): r for r in rest.get("resource") or []}

    def missing(self, requirement: dict) -> str | None:
        """None when the server declares `requirement`, else what it does not declare."""
        if "resource" in requirement:
            kind = self.resources.get(requirement["resource"])
            if kind is None:
                return f"the server does not declare {requirement['resource']}"
            codes = {i.get("code") for i in kind.get("interaction") or []}
            absent = [code for code in requirement.get("interaction", []) if code not in codes]
            return f"the server does not declare {requirement['resource']} {', '.join(absent)}" if absent else None
        if "searchParam" in requirement:
            kind, name = requirement["searchParam"]
            names = {p.get("name") for p in (self.resources.get(kind) or {}).get("searchParam") or []}
            return None if name in names else f"the server does not declare {kind} search parameter {name!r}"
        if "operation" in requirement:
            names = {o.get("name") for o in self.rest.get("operation") or []} | {
                o.get("name") for r in self.resources.values() for o in r.get("operation") or []}
            return None if requirement["operation"] in names else \
                f"the server does not declare the operation ${requirement['operation']}"
        if "system" in requirement:
            codes = {i.get("code") for i in self.rest.get("interaction") or []}
            return None if requirement["system"] in codes else f"the server does not declare {requirement['system']}"
        if "format" in requirement:
            wanted = requirement["format"]
            return None if any(wanted in f for f in self.statement.get("format") or []) else \
                f"the server does not declare the {wanted} format"
        if "security" in requirement:
            services = {c.get("code") for s in (self.rest.get("security") or {}).get("service") or []
                        for c in s.get("coding") or []}
            return None if requirement["security"] in services else \
                f"the server does not declare {requirement['security']} security"
        if "include" in requirement:
            kind, include = requirement["include"]
            declared = (self.resources.get(kind) or {}).get("searchInclude") or []
            return None if include in declared else f"the server does not declare _include={include}"
        if "revinclude" in requirement:
            kind, include = requirement["revinclude"]
            declared = (self.resources.get(kind) or {}).get("searchRevInclude") or []
            return None if include in declared else f"the server does not declare _revinclude={include}"
        if "supportedProfile" in requirement:
            kind, url = requirement["supportedProfile"]
            declared = (self.resources.get(kind) or {}).get("supportedProfile") or []
            return None if url in declared else f"the server does not declare the profile {url} for {kind}"
        if "declares" in requirement:  # [type, element of rest.resource, the values that declare it]
            kind, element, wanted = requirement["declares"]
            value = (self.resources.get(kind) or {}).get(element)
            return None if value in (wanted if isinstance(wanted, list) else [wanted]) else \
                f"the server does not declare {kind} {element} {wanted} (it declares {value!r})"
        if "credential" in requirement or "variable" in requirement:
            return None  # checked by the runner, which knows the credentials and variables given
        raise ValueError(f"unknown requirement {requirement}")
