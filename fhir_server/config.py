"""Settings, from the environment unless the app factory is given a mapping."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from .storage.mongo import Concerns

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Settings:
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    database_name: str = "fhir"
    # Read and write concerns (storage/mongo.py Concerns; empty: the URI's option, else majority / primary).
    write_concern: str = ""
    write_timeout_ms: int = 0
    read_concern: str = ""
    read_preference: str = ""
    # The public FHIR base (e.g. https://record.example.org/fhir) when a proxy stands in front.
    base_url: str = ""
    # Where `serve` listens (it hands both to its workers): the public origin when base_url is not set.
    host: str = "127.0.0.1"
    port: int = 8080
    # Largest request body accepted (a Binary of tens of MB arrives base64-encoded: 4/3 of its size).
    max_body_bytes: int = 128 * 1024 * 1024
    # Set when the database is a local FerretDB (storage/ferretdb.py): its SQLite folder.
    ferretdb_sqlite_dir: str = ""
    search_page_size: int = 20
    search_page_max: int = 1000
    # The most matches a search keeps for paging, and for how long (seconds) its pages can be asked for.
    search_max_results: int = 10_000
    search_pages_ttl: int = 3600
    history_page_size: int = 50
    # Entries a batch or transaction Bundle may hold (more: 413), and how long (seconds) a transaction's
    # writer may go without renewing its lease before a sweeper aborts it (storage/transactions.py).
    bundle_max_entries: int = 5000
    transaction_lease_seconds: int = 60
    history_page_max: int = 500
    # How old (seconds) what a request's token check knows of revocations and clients' statuses may be: a
    # suspension, withdrawal or revocation takes effect within this bound (0: read on every request).
    token_recheck_seconds: int = 5
    # How long (years) a closed record's content is kept before `fhir-server retention run` purges it.
    record_retention_years: int = 10
    # Seconds between two rounds of e-mail delivery in each worker (when FHIR_SMTP_HOST is set).
    notification_interval: int = 30
    # The repositoryUniqueId (an OID) this server answers XDS.b retrieves (ITI-43) and stored queries with.
    xds_repository_id: str = "1.2.250.1.999.1.1"

    @classmethod
    def from_mapping(cls, values: dict | None = None) -> "Settings":
        """Settings from `values`, else from FHIR_* / MONGODB_URI environment variables, else defaults."""
        values = dict(values or {})
        env = {
            "mongodb_uri": os.environ.get("MONGODB_URI"),
            "database_name": os.environ.get("FHIR_DATABASE"),
            "write_concern": os.environ.get("MONGODB_WRITE_CONCERN"),
            "write_timeout_ms": os.environ.get("MONGODB_WRITE_TIMEOUT_MS"),
            "read_concern": os.environ.get("MONGODB_READ_CONCERN"),
            "read_preference": os.environ.get("MONGODB_READ_PREFERENCE"),
            "base_url": os.environ.get("FHIR_BASE_URL"),
            "host": os.environ.get("FHIR_HOST"),
            "port": os.environ.get("FHIR_PORT"),
            "max_body_bytes": os.environ.get("FHIR_MAX_BODY_BYTES"),
            "ferretdb_sqlite_dir": os.environ.get("FERRETDB_SQLITE_DIR"),
            "search_page_size": os.environ.get("FHIR_SEARCH_PAGE_SIZE"),
            "search_page_max": os.environ.get("FHIR_SEARCH_PAGE_MAX"),
            "search_max_results": os.environ.get("FHIR_SEARCH_MAX_RESULTS"),
            "search_pages_ttl": os.environ.get("FHIR_SEARCH_PAGES_TTL"),
            "bundle_max_entries": os.environ.get("FHIR_BUNDLE_MAX_ENTRIES"),
            "transaction_lease_seconds": os.environ.get("FHIR_TRANSACTION_LEASE_SECONDS"),
            "token_recheck_seconds": os.environ.get("FHIR_TOKEN_RECHECK_SECONDS"),
            "record_retention_years": os.environ.get("FHIR_RECORD_RETENTION_YEARS"),
            "notification_interval": os.environ.get("FHIR_NOTIFICATION_INTERVAL"),
            "xds_repository_id": os.environ.get("FHIR_XDS_REPOSITORY_ID"),
        }
        kwargs = {}
        for field in fields(cls):
            value = values.get(field.name, env.get(field.name))
            if value is not None:
                kwargs[field.name] = int(value) if field.type == "int" else value
        return cls(**kwargs)

    def __post_init__(self) -> None:
        self.concerns.options(self.mongodb_uri)  # a read preference other than primary is refused here
        if self.token_recheck_seconds < 0:
            raise ValueError("FHIR_TOKEN_RECHECK_SECONDS is 0 (read on every request) or more")
        if self.base_url:
            parts = urlsplit(self.base_url)
            try:
                valid = parts.scheme in _DEFAULT_PORTS and bool(parts.hostname) and parts.port != 0
            except ValueError:  # a port that is not a number
                valid = False
            if not valid:
                raise ValueError(f"FHIR_BASE_URL {self.base_url!r} is not an absolute http(s) URL")

    @property
    def concerns(self) -> Concerns:
        return Concerns(self.write_concern, self.write_timeout_ms, self.read_concern, self.read_preference)

    @property
    def origin(self) -> str:
        """The public origin (scheme://host[:port]) every URL the server writes or checks starts with:
        FHIR_BASE_URL's, else the address `serve` listens on. Never the request's Host header."""
        if self.base_url:
            parts = urlsplit(self.base_url)
            return f"{parts.scheme}://{parts.netloc.lower()}"
        return f"http://{_netloc(self.host, self.port)}"

    @property
    def fhir_base(self) -> str:
        """The public FHIR base: FHIR_BASE_URL, else the listen address + /fhir."""
        return self.base_url.rstrip("/") if self.base_url else f"{self.origin}/fhir"

    def names_this_server(self, host: str) -> bool:
        """Whether a Host header names this server: the public origin's host (its default port optional) or
        the listen address (which a proxy may pass on)."""
        public = urlsplit(self.origin)
        default_port = _DEFAULT_PORTS[public.scheme]
        port = public.port or default_port
        names = {_netloc(public.hostname or "", port), _netloc(self.host, self.port)}
        if port == default_port:
            names.add(_netloc(public.hostname or "", None))
        return host.lower() in names


def _netloc(host: str, port: int | None) -> str:
    """host:port as a URL writes it (an IPv6 address in brackets)."""
    try:
        bracketed = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        bracketed = host
    return bracketed.lower() if port is None else f"{bracketed.lower()}:{port}"


def is_wildcard(host: str) -> bool:
    """Whether `host` is an address meaning every interface (0.0.0.0, ::), which names no server."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
