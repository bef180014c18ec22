"""Our profiles (profiles/structure-definitions) applied to resources: those a resource claims in
`meta.profile` on every write, and those `$validate?profile=` names. A claimed profile the server does not
hold (FR Core's, IHE's...) is not checked: the resource is still validated against R4 itself."""
from __future__ import annotations

from validation import Issue, known_profiles, validate_profile


def claimed(resource: dict) -> list[str]:
    """The profiles of ours that `meta.profile` claims (a `|version` suffix ignored), in order."""
    meta = resource.get("meta")
    urls = meta.get("profile") if isinstance(meta, dict) else None
    held = known_profiles()
    return list(dict.fromkeys(url.partition("|")[0] for url in urls or []
                              if isinstance(url, str) and url.partition("|")[0] in held))


def profile_issues(resource: dict, profiles: list[str]) -> list[Issue]:
    """What each of these profiles finds in the resource (a `|version` suffix ignored; an unknown one: a
    `not-found` issue)."""
    urls = dict.fromkeys(url.partition("|")[0] for url in profiles)
    return [issue for url in urls for issue in validate_profile(resource, url)]


def supported_profiles(resource_type: str) -> list[str]:
    """The profiles of ours for a resource type, for the CapabilityStatement's `supportedProfile`."""
    return sorted(url for url, definition in known_profiles().items() if definition.get("type") == resource_type)
