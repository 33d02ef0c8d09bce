"""A legacy user table or export with password hashes, checked by Ferry itself: type ``hashes``.

For a legacy system whose users Ferry can read but that has no login API: a CSV, JSON Lines or
JSON export, or its user table queried over SQL. Ferry verifies the typed password against the
stored hash locally (bcrypt, PBKDF2, Django, phpass and WordPress, MD5-crypt and Apache,
SHA-crypt, yescrypt and the rest of libxcrypt's crypt(3), LDAP ``{SSHA}``-style, argon2, scrypt,
Firebase's scrypt, ASP.NET Identity, salted SHA...: the table in docs/connectors.md), and the
journey's ``create_user`` step then keeps Ferry's own argon2id hash of that password: the legacy
hash is used once, and the user never needs the export again.

Setup at the legacy side: export the users (identifier, a stable id, the password hash, the salt
when the system keeps it apart, profile columns) to a file Ferry can read, or give Ferry a
read-only database account and a query that returns one user. Keep the file readable by Ferry
only: it holds password hashes. When the migration is over, remove the connector from the
configuration and delete the file (or drop the account): migrated users never need it again.

Settings (``[connectors.<name>]``, ``type = "hashes"``):

* ``source``: ``csv``, ``jsonl`` (one JSON object a line), ``json`` (an array of objects, or an
  object whose ``records_key`` array holds them, as Firebase's ``auth:export`` writes) or ``sql``.
* ``path`` (files): the export. Read at start-up (a missing or broken file stops Ferry with the
  line at fault; two records with one identifier or one subject too), and read again whenever it
  changes. Once it is deleted, users not yet migrated get "try again later".
* ``csv_delimiter`` (default ``,``), ``csv_columns`` (column names for a CSV without a header
  row, e.g. Firebase's CSV export), ``records_key`` (default ``users``, for ``json``).
* ``database_url`` (sql): ``sqlite:///path/to/legacy.db`` (opened read-only) or
  ``postgresql://user:password@host/db`` (read-only transactions; use ``"env:NAME"``).
* ``query`` (sql): one ``SELECT`` returning at most one row, with ``:identifier`` where the
  identifier goes; the driver binds it, so it is never formatted into the SQL. E.g.
  ``SELECT id, email, password_hash, first_name, last_name, is_active FROM users
  WHERE lower(email) = lower(:identifier)``. Each call opens its own connection and honours
  ``connect_timeout``; ``read_timeout`` bounds the query.
* ``list_query`` (sql, optional): the page query of ``ferry roster pull``, with ``:limit`` and
  ``:offset`` (see :mod:`connectors.hashes.listing`); file sources list without it.
* ``identifier_field`` (default ``email``), ``hash_field`` (``password_hash``), ``subject_field``
  (``id``: unique and never reused), ``salt_field`` (for ``firebase_scrypt`` and
  ``salted_sha``), ``disabled_field`` (truthy: the account is disabled) and ``active_field``
  (falsy: disabled; a JSON record without the field is not). Truthy is anything but empty,
  NULL, ``0``, ``false``, ``no``, ``off``... (so a ``disabled_at`` date counts). Every other
  column is a claim for the ``mapping``; the hash and the salt never are.
* ``schemes``: the hash formats to accept, default every format with a prefix of its own (see
  ``connectors/hashes/schemes.py``). A hash in another format refuses that user's sign-in with
  "your account needs fixing, contact support" (``hash format X not enabled``, logged as an
  error for the operator), never a wrong password and never "try again later". Formats
  without a prefix are accepted only when listed: ``firebase_scrypt``, ``salted_sha``,
  ``md5_hex``, ``sha1_hex``, ``sha256_hex``, ``des_crypt``, ``bsdi_crypt``,
  ``aspnet_identity_v2``, ``aspnet_identity_v3``.
* ``firebase_signer_key``, ``firebase_salt_separator`` (base64, from the Firebase console's
  password hash parameters; use ``"env:NAME"`` for the key), ``firebase_rounds``,
  ``firebase_mem_cost``: needed by ``firebase_scrypt``.
* ``salted_sha = { algorithm = "sha256", salt_position = "prefix", encoding = "hex",
  salt_encoding = "text" }``: needed by ``salted_sha`` (``prefix``: digest(salt + password)).
* ``send_identifier``: ``as_typed`` compares identifiers case-sensitively (files) or passes
  what the user typed to the query; by default both sides are normalised (trimmed, lower-case).
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, breaker and rate limit:
  as every connector.

A malformed or unrecognised hash, a format not enabled, a SQL row without its subject or with a
binary hash, several rows for one identifier: each is one user's problem, not an outage. It is
:class:`UserDataInvalid`, which the ``legacy_password`` step turns into a refusal of its own
(audited as ``legacy.user_data_invalid`` with the reason, never the hash); it does not count
towards the circuit breaker, so a few such users never shut the door for everyone else.

Outcomes: no such identifier is ``UserNotFound``; no hash or a wrong password is
``InvalidCredentials``; a disabled account with the right password is
``AccountBlocked("disabled")``; one user's unusable data is :class:`UserDataInvalid`; a missing
or broken file, an unreachable database or a failing query is ``LegacyUnavailable``. Every
``verify`` that reaches the store checks exactly one hash: the user's, or a decoy in the same
format (unknown user, no hash, unusable data), so the timing does not tell them apart.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.base import (
    AccountBlocked,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    PasswordConnector,
    UserNotFound,
)
from connectors.hashes.listing import HashesListing
from connectors.hashes.schemes import (
    AUTO_DETECTED,
    FORMATS,
    FirebaseParameters,
    FormatNotEnabled,
    HashProblem,
    HashVerifier,
    Parameters,
    SaltedShaParameters,
    Stored,
)
from connectors.hashes.sources import (
    Fields,
    FileSource,
    LegacyRecord,
    RecordProblem,
    SourceProblem,
    identifier_key,
)
from connectors.hashes.sql import SqlSource, database_kind, list_query_problems, query_problems
from settings.errors import ConfigError

log = logging.getLogger(__name__)


class UserDataInvalid(LegacyUnavailable):
    """One user's legacy data cannot be used (a malformed or unknown hash, an unreadable row).

    Not an outage (``outage`` is False: the circuit breaker does not count it) and not the
    user's fault: the journey refuses this user with its own words until the operator fixes
    the record. ``reason`` names what is wrong for the operator, never the hash. A subclass of
    :class:`LegacyUnavailable` so that code which knows only that reads it as "cannot check".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, outage=False)


@dataclass(frozen=True)
class HashReport:
    """What ``ferry connector-test`` says about one user's stored hash (never the hash itself):
    the format seen (None when unrecognised or the record is unusable) and, when Ferry refuses
    this user, why."""

    scheme: str | None
    refusal: str | None = None


class SaltedShaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] = "sha256"
    salt_position: Literal["prefix", "suffix"] = "prefix"
    encoding: Literal["hex", "base64"] = "hex"
    salt_encoding: Literal["text", "hex", "base64"] = "text"


def _base64(value: str | None) -> str | None:
    if value is not None:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (as the Firebase console shows it)") from None
    return value


class HashesSettings(ConnectorSettings):
    source: Literal["csv", "jsonl", "json", "sql"]
    path: str | None = None
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    csv_columns: list[str] | None = None
    records_key: str = "users"
    database_url: str | None = None
    query: str | None = None
    list_query: str | None = None  # ferry roster pull (connectors/hashes/listing.py)
    identifier_field: str = "email"
    hash_field: str = "password_hash"
    subject_field: str = "id"
    salt_field: str | None = None
    disabled_field: str | None = None
    active_field: str | None = None
    schemes: list[str] = Field(default_factory=lambda: list(AUTO_DETECTED), min_length=1)
    salted_sha: SaltedShaSettings | None = None
    firebase_signer_key: str | None = None
    firebase_salt_separator: str | None = None
    firebase_rounds: int | None = Field(None, ge=1, le=32)
    firebase_mem_cost: int | None = Field(None, ge=1, le=20)

    _keys = field_validator("firebase_signer_key", "firebase_salt_separator")(_base64)

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in FORMATS]
        if unknown:
            raise ValueError(f"unknown hash format {', '.join(unknown)} (known: {', '.join(FORMATS)})")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> HashesSettings:
        problems = []
        if self.source == "sql":
            problems += [f"{key}: only for file sources" for key in ("path", "csv_columns")
                         if getattr(self, key)]
            if not self.database_url or not database_kind(self.database_url):
                problems.append("database_url: a sqlite:///... or postgresql://... URL is needed")
            if not self.query:
                problems.append("query: the SELECT that finds one user is needed")
            else:
                problems += [f"query: {p}" for p in query_problems(self.query)]
            if self.list_query:
                problems += [f"list_query: {p}" for p in list_query_problems(self.list_query)]
        else:
            problems += [f"{key}: only for source = \"sql\"" for key in ("database_url", "query",
                                                                           "list_query")
                         if getattr(self, key)]
            if not self.path:
                problems.append(f"path: the {self.source} file is needed")
        firebase = [self.firebase_signer_key, self.firebase_salt_separator, self.firebase_rounds,
                    self.firebase_mem_cost]
        if "firebase_scrypt" in self.schemes:
            if None in firebase:
                problems.append("firebase_scrypt needs firebase_signer_key, firebase_salt_separator, "
                                "firebase_rounds and firebase_mem_cost")
        elif any(v is not None for v in firebase):
            problems.append("firebase_* settings are set but firebase_scrypt is not in schemes")
        if "salted_sha" in self.schemes and self.salted_sha is None:
            problems.append("salted_sha is in schemes: describe it in salted_sha = { algorithm = ... }")
        elif "salted_sha" not in self.schemes and self.salted_sha is not None:
            problems.append("salted_sha is set but not in schemes")
        for scheme in ("firebase_scrypt", "salted_sha"):
            if scheme in self.schemes and not self.salt_field:
                problems.append(f"{scheme} needs salt_field (the column holding each user's salt)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class HashesConnector(HashesListing, PasswordConnector):
    type = "hashes"
    Settings = HashesSettings
    settings: HashesSettings
    supports_lookup = True
    #: Each ``verify`` checks one hash here in Ferry (see ``journeys/steps/_attempt.py``).
    checks_hash_locally = True

    def __init__(self, name: str, settings: HashesSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.verifier = HashVerifier(settings.schemes, _parameters(settings))
        fields = Fields(settings.identifier_field, settings.hash_field, settings.subject_field,
                        settings.salt_field, settings.disabled_field, settings.active_field)
        self._decoy: Stored | None = None
        if settings.source == "sql":
            self.source: FileSource | SqlSource = SqlSource(
                settings.database_url or "", settings.query or "", fields,
                self.connect_timeout, self.read_timeout, settings.list_query)
            return
        self.source = FileSource(
            settings.path or "", settings.source, fields,
            identifier_key(settings.send_identifier == "as_typed"),
            delimiter=settings.csv_delimiter, columns=settings.csv_columns,
            records_key=settings.records_key, name=name)
        try:
            self.source.load()
        except SourceProblem as problem:
            raise ConfigError(f"connectors.{name}.path: {problem.reason}") from None

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        try:
            record = self._find(identifier)
        except UserDataInvalid:
            self.verifier.decoy(password, self._decoy_hash())
            raise
        if record is None or record.stored is None:
            # Check the password against some hash anyway, so that "no such user" takes as long
            # as "wrong password" and the timing does not tell who has an account.
            self.verifier.decoy(password, self._decoy_hash())
            if record is None:
                raise UserNotFound()
            raise InvalidCredentials()
        try:
            matches = self.verifier.verify(password, record.stored)
        except HashProblem as problem:
            advice = ("add it to `schemes` to let these users migrate"
                      if isinstance(problem, FormatNotEnabled) else "fix it at the legacy side")
            log.error("connector %s: legacy user %s: %s: %s", self.name, record.subject,
                      problem.reason, advice)
            self.verifier.decoy(password, self._decoy_hash())  # as long as a real check
            # One user's data, not an outage: the circuit breaker must not open for everyone.
            raise UserDataInvalid(problem.reason) from None
        self._decoy = record.stored
        if not matches:
            raise InvalidCredentials()
        if record.disabled:
            raise AccountBlocked("disabled")
        return ExternalIdentity(self.name, record.subject, record.claims)

    def stored_hash_report(self, identifier: str, password: str) -> HashReport | None:
        """For ``ferry connector-test``: the format of ``identifier``'s stored hash and, when
        Ferry cannot use it, why; None without such a user, a hash, or a readable source (the
        test itself says so). Checks ``password`` once, to find a malformed hash; keeps nothing."""
        try:
            record = self.source.find(identifier)
        except RecordProblem as problem:
            return HashReport(None, problem.reason)
        except SourceProblem:
            return None
        if record is None or record.stored is None:
            return None
        try:
            scheme = self.verifier.identify(record.stored)
            self.verifier.verify(password, record.stored)
        except HashProblem as problem:
            return HashReport(problem.scheme, problem.reason)
        return HashReport(scheme)

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The legacy profile; a disabled account raises ``AccountBlocked`` rather than migrating."""
        record = self._find(identifier)
        if record is None:
            return None
        if record.disabled:
            raise AccountBlocked("disabled")
        return ExternalIdentity(self.name, record.subject, record.claims)

    def _find(self, identifier: str) -> LegacyRecord | None:
        try:
            return self.source.find(identifier)
        except RecordProblem as problem:
            log.error("connector %s: the record for one identifier cannot be used: %s: fix it "
                      "at the legacy side", self.name, problem.reason)
            raise UserDataInvalid(problem.reason) from None
        except SourceProblem as problem:
            raise self.unavailable(problem.reason) from None

    def _decoy_hash(self) -> Stored | None:
        if isinstance(self.source, FileSource) and self.source.sample is not None:
            return self.source.sample.stored
        return self._decoy  # the last hash a SQL source returned: same format and cost


def _parameters(settings: HashesSettings) -> Parameters:
    firebase = None
    if "firebase_scrypt" in settings.schemes:
        firebase = FirebaseParameters(
            signer_key=base64.b64decode(settings.firebase_signer_key or ""),
            salt_separator=base64.b64decode(settings.firebase_salt_separator or ""),
            rounds=settings.firebase_rounds or 8, mem_cost=settings.firebase_mem_cost or 14)
    salted = None
    if settings.salted_sha is not None:
        salted = SaltedShaParameters(**settings.salted_sha.model_dump())
    return Parameters(firebase=firebase, salted_sha=salted)
