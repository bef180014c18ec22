"""The rules the generated checks test, as their citations (a FHIR R4 page and section, RFC 9110 for HTTP):
shown with each check in the console, the JUnit and the HTML reports. Scenarios in scenarios/ name theirs."""
from __future__ import annotations

R4 = "FHIR R4 "
CAPABILITIES = R4 + "http.html#capabilities (GET [base]/metadata answers the CapabilityStatement); capabilitystatement.html"
INTERACTIONS = {
    "create": R4 + "http.html#create (201 Created, Location of the new resource)",
    "read": R4 + "http.html#read (200 with the resource; 404 for an unknown id)",
    "vread": R4 + "http.html#vread (a version as it was)",
    "update": R4 + "http.html#update (200 OK and a new version)",
    "patch": R4 + "http.html#patch (JSON Patch, application/json-patch+json)",
    "history-instance": R4 + "http.html#history (a history Bundle, every version)",
    "history-type": R4 + "http.html#history (type history: a history Bundle)",
    "search-type": R4 + "http.html#search (a searchset Bundle)",
    "delete": R4 + "http.html#delete (200 or 204)",
    "read-deleted": R4 + "http.html#read (a deleted resource: 410 Gone, or 404)",
}
# What a value of each search parameter type matches, and its modifiers and prefixes
TYPES = {
    "string": R4 + "search.html#string (case- and accent-insensitive, matches the start; :exact, :contains)",
    "token": R4 + "search.html#token ([system]|[code], [code], [system]|; :not)",
    "date": R4 + "search.html#date and #prefix (the value's precision; eq ne gt lt ge le)",
    "reference": R4 + "search.html#reference ([type]/[id], [id], :[type])",
    "uri": R4 + "search.html#uri (matches the whole URI; :below)",
    "number": R4 + "search.html#number",
    "quantity": R4 + "search.html#quantity",
    "special": R4 + "search.html#special",
}
MISSING = R4 + "search.html#modifiers (:missing=true finds what has no value, :missing=false what has one)"
COMMON = R4 + "search.html#all (parameters for all resources: _id, _lastUpdated, _profile, _security, _source, _tag)"
ACCEPTED = (R4 + "search.html#errors (under Prefer: handling=strict, an error only for an unknown or unsupported "
            "parameter); capabilitystatement.html (rest.resource.searchParam: the parameters the server supports)")
FILTER = R4 + "search_filter.html (_filter, an optional parameter a server declares)"
MALFORMED = (R4 + "search.html#errors (a search that cannot be processed: 400 Bad Request with an OperationOutcome); "
             "RFC 9110 §15.5.1 400 and §15.6 (5xx: the server erred)")


def of_parameter(kind_of: str | None) -> str:
    return TYPES.get(kind_of or "", R4 + "search.html#ptypes")
