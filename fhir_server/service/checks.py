"""Checks every interaction makes first: is the type served, does it allow this, is the id well-formed."""
from __future__ import annotations

import re

from ..errors import BadRequest, MethodNotAllowed, NotFound
from ..registry import RESOURCES, is_r4_resource_type

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def check_type(resource_type: str, interaction: str) -> None:
    """404 for a type the server does not serve, 405 for an interaction the type does not allow."""
    kind = RESOURCES.get(resource_type)
    if kind is None:
        known = "a FHIR R4 resource type this server does not serve" if is_r4_resource_type(resource_type) \
            else "not a FHIR R4 resource type"
        raise NotFound(f"Unknown resource type '{resource_type}': {known} "
                       f"(served: {', '.join(RESOURCES)})", code="not-supported")
    if not kind.supports(interaction):
        raise MethodNotAllowed(f"{interaction} is not allowed on {resource_type}")


def check_id(resource_id: str) -> None:
    if not ID_PATTERN.match(resource_id):
        raise BadRequest(f"'{resource_id}' is not a valid resource id ([A-Za-z0-9-.], 1 to 64 characters)")
