"""Content negotiation: which format a request carries and which one the client wants back.

FHIR JSON and FHIR XML both ways (FHIR R4 http.html#mime-type): `_format` wins over `Accept`; a client
that accepts neither gets 406, a body in another format 415 (except raw Binary content).
"""
from __future__ import annotations

from flask import Request, Response
from werkzeug.http import http_date

from ..errors import BadRequest, NotAcceptable, UnsupportedMediaType
from ..formats import FhirFormatError, fhir_json
from ..formats.xml import json_to_xml, xml_to_json
from ..storage.resources import StoredVersion

JSON, XML = "json", "xml"
MIME = {JSON: "application/fhir+json", XML: "application/fhir+xml"}
JSON_TYPES = ("application/fhir+json", "application/json+fhir", "application/json", "text/json")
XML_TYPES = ("application/fhir+xml", "application/xml+fhir", "application/xml", "text/xml")
FORMAT_PARAMETER = {"json": JSON, "xml": XML, **{t: JSON for t in JSON_TYPES}, **{t: XML for t in XML_TYPES}}
JSON_PATCH = "application/json-patch+json"


def response_format(request: Request) -> str:
    requested = request.args.get("_format")
    if requested is not None:
        fmt = FORMAT_PARAMETER.get(requested.split(";")[0].strip().lower())
        if fmt is None:
            raise NotAcceptable(f"_format '{requested}' is not supported (use json or xml)")
        return fmt
    if not request.accept_mimetypes:
        return JSON
    best = _best_fhir_type(request)
    if best is None:
        raise NotAcceptable(f"None of the formats in Accept '{request.headers.get('Accept')}' is served "
                            f"(use application/fhir+json or application/fhir+xml)")
    return JSON if best in JSON_TYPES else XML


def _accepted(request: Request) -> list[tuple[str, float]]:
    """Accept's media types without their parameters (FHIR clients send `; fhirVersion=4.0`)."""
    return [(mime.split(";")[0].strip().lower(), quality) for mime, quality in request.accept_mimetypes]


def _best_fhir_type(request: Request) -> str | None:
    """The FHIR media type the client prefers, wildcards included; the first listed wins a tie."""
    best, best_quality = None, 0.0
    for candidate in JSON_TYPES + XML_TYPES:
        major = candidate.split("/")[0]
        quality = max((q for mime, q in _accepted(request) if mime in (candidate, f"{major}/*", "*/*")),
                      default=0.0)
        if quality > best_quality:
            best, best_quality = candidate, quality
    return best


def wants_fhir_format(request: Request) -> bool:
    """True when the client named a FHIR format itself, not through a wildcard (used for Binary reads)."""
    if request.args.get("_format"):
        return True
    named = {mime for mime, quality in _accepted(request) if quality > 0}
    return bool(named & set(JSON_TYPES + XML_TYPES))


def accepts_media_type(request: Request, media_type: str) -> bool:
    """Whether Accept admits `media_type` (no Accept admits anything): ITI-68 answers 406 otherwise."""
    if not request.headers.get("Accept"):
        return True
    accepted = [(mime, q) for mime, q in _accepted(request) if q > 0]
    major = media_type.split("/")[0].lower()
    return any(mime in (media_type.split(";")[0].strip().lower(), f"{major}/*", "*/*") for mime, _ in accepted)


def body_format(request: Request) -> str | None:
    """JSON or XML for a FHIR body, None for anything else."""
    mimetype = request.mimetype
    if mimetype in JSON_TYPES:
        return JSON
    if mimetype in XML_TYPES:
        return XML
    return None


def parse_body(request: Request, allow_patch: bool = False) -> object:
    """The request body as parsed FHIR JSON (XML is converted), or a JSON Patch document."""
    data = request.get_data(cache=False)
    if not data.strip():
        raise BadRequest("The request has no body", code="required")
    if allow_patch and request.mimetype == JSON_PATCH:
        return parse_json(data)
    fmt = body_format(request)
    if fmt == JSON:
        return parse_json(data)
    if fmt == XML:
        try:
            return xml_to_json(data)
        except FhirFormatError as e:
            raise BadRequest(f"Malformed FHIR XML: {e}", code="structure")
    accepted = ", ".join((*MIME.values(), JSON_PATCH) if allow_patch else MIME.values())
    raise UnsupportedMediaType(f"Content-Type '{request.content_type or ''}' is not supported (use {accepted})")


def parse_json(data: bytes) -> object:
    try:
        return fhir_json.loads(data)
    except fhir_json.JsonSyntaxError as e:
        raise BadRequest(f"Malformed JSON: {e}", code="structure")


def render(payload: dict | None, fmt: str, status: int = 200, headers: dict | None = None,
           pretty: bool = False) -> Response:
    """A FHIR response; `payload` None gives an empty body. NotAcceptable when XML cannot carry the payload
    (a control character in a string stored before they were refused)."""
    if payload is None:
        return Response(status=status, headers=headers)
    if fmt == XML:
        try:
            body = json_to_xml(payload, pretty=pretty)
        except FhirFormatError as e:
            raise NotAcceptable(f"This cannot be given in FHIR XML ({e}): ask for FHIR JSON") from e
    else:
        body = fhir_json.dumps(payload, pretty=pretty).encode("utf-8")
    return Response(body, status=status, headers=headers, content_type=f"{MIME[fmt]}; charset=utf-8")


def version_headers(version: StoredVersion, base: str | None = None) -> dict[str, str]:
    """ETag and Last-Modified, plus Location when `base` is given (create and update)."""
    headers = {"ETag": f'W/"{version.version}"', "Last-Modified": http_date(version.last_updated)}
    if base is not None:
        headers["Location"] = f"{base}/{version.type}/{version.id}/_history/{version.version}"
    return headers
