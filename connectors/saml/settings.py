"""Settings of the ``saml`` connector, its IdP's description, and python3-saml's settings.

Kept apart from :mod:`connectors.saml` (the protocol) because it holds the operator-facing
surface: every key, its default and its validation. The IdP is described by metadata (a URL,
fetched with timeouts and cached, or inline XML) or by explicit settings; explicit settings win
over metadata, so an operator can pin a certificate while the rest comes from a URL.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from pydantic import Field, field_validator, model_validator

from connectors.base import ConnectorSettings, LegacyUnavailable
from connectors.http import LegacyHttp
from connectors.http_transport import is_loopback

log = logging.getLogger(__name__)

#: Short names accepted for ``name_id_format``; a full URN is accepted as well.
NAME_ID_FORMATS = {
    "persistent": Saml.NAMEID_PERSISTENT,
    "email": Saml.NAMEID_EMAIL_ADDRESS,
    "unspecified": Saml.NAMEID_UNSPECIFIED,
    "transient": Saml.NAMEID_TRANSIENT,
}

#: The mapping a ``saml`` connector starts with: the claim names the connector derives from the
#: usual attribute names (see :mod:`connectors.saml.claims`). SAML has no "e-mail verified".
SAML_MAPPING = {
    "email": "email",
    "given_name": "given_name",
    "family_name": "family_name",
    "name": "name",
    "locale": "locale",
}

MAX_METADATA_BYTES = 10 * 1024 * 1024
_XML_UNSAFE = set("\"'<>&\\ \t\r\n")


def _url(value: str | None) -> str | None:
    """An https URL (http only for loopback test servers), safe to put in an XML attribute."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or _XML_UNSAFE & set(value):
        raise ValueError("must be an https URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("must use https (http is accepted only for loopback test servers)")
    return value


def certificate_body(text: str) -> str:
    """One certificate as python3-saml wants it: base64 DER, no header, no whitespace."""
    text = text.strip()
    if "-----BEGIN" in text:
        cert = x509.load_pem_x509_certificate(text.encode())
    else:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def certificate_bodies(text: str) -> list[str]:
    """Every certificate in ``text`` (several PEM blocks for a key rollover, or one base64)."""
    if "-----BEGIN" not in text:
        return [certificate_body(text)]
    marker = "-----END CERTIFICATE-----"
    blocks = [block + marker for block in text.split(marker) if "-----BEGIN" in block]
    return [certificate_body(block) for block in blocks]


class SamlSettings(ConnectorSettings):
    """``[connectors.<name>]`` with ``type = "saml"``; see the module docstring of ``saml``."""

    mapping: dict[str, str] = Field(default_factory=lambda: dict(SAML_MAPPING))
    idp_metadata_url: str | None = None
    idp_metadata_xml: str | None = None
    idp_metadata_max_age: int = Field(3600, ge=60)
    idp_entity_id: str | None = None
    idp_sso_url: str | None = None
    idp_cert: str | None = None
    sp_entity_id: str | None = None
    sp_cert: str | None = None
    sp_key: str | None = None
    sign_authn_requests: bool = False
    want_assertions_signed: bool = True
    want_messages_signed: bool = False
    name_id_format: str = Field("persistent", validate_default=True)
    accept_name_id_formats: list[str] = Field(default_factory=list)
    subject_attribute: str | None = None
    attribute_aliases: dict[str, str] = Field(default_factory=dict)
    clock_skew: int = Field(120, ge=0, le=900)
    allow_sha1: bool = False
    force_authn: bool = False

    _urls = field_validator("idp_metadata_url", "idp_sso_url")(_url)

    @field_validator("sp_entity_id", "idp_entity_id")
    @classmethod
    def _entity_id(cls, value: str | None) -> str | None:
        if value is not None and (not value or _XML_UNSAFE & set(value)):
            raise ValueError("must be a URI without quotes, spaces or angle brackets")
        return value

    @field_validator("accept_name_id_formats")
    @classmethod
    def _accepted_formats(cls, value: list[str]) -> list[str]:
        return [cls._name_id_format(item) for item in value]

    @field_validator("name_id_format")
    @classmethod
    def _name_id_format(cls, value: str) -> str:
        if value in NAME_ID_FORMATS:
            return NAME_ID_FORMATS[value]
        if value.startswith("urn:oasis:names:tc:SAML:") and not _XML_UNSAFE & set(value):
            return value
        raise ValueError(f"must be one of {', '.join(NAME_ID_FORMATS)} or a NameID format URN")

    @field_validator("idp_cert")
    @classmethod
    def _idp_cert(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                certificate_bodies(value)
            except (ValueError, binascii.Error):
                raise ValueError("must be PEM certificate(s) or a base64 DER certificate") from None
        return value

    @field_validator("sp_cert")
    @classmethod
    def _sp_cert(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                x509.load_pem_x509_certificate(value.strip().encode())
            except ValueError:
                raise ValueError("must be a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
        return value

    @field_validator("sp_key")
    @classmethod
    def _sp_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                serialization.load_pem_private_key(value.strip().encode(), password=None)
            except (ValueError, TypeError):
                raise ValueError("must be an unencrypted PEM private key") from None
        return value

    @field_validator("attribute_aliases")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        for claim in value:
            if not claim or "." in claim or "|" in claim or claim.startswith("="):
                raise ValueError(f"{claim!r}: a claim name has no dots, bars or leading '='")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SamlSettings:
        if self.idp_metadata_url and self.idp_metadata_xml:
            raise ValueError("set idp_metadata_url or idp_metadata_xml, not both")
        if not (self.idp_metadata_url or self.idp_metadata_xml) and not (
                self.idp_entity_id and self.idp_sso_url and self.idp_cert):
            raise ValueError("describe the IdP: idp_metadata_url, idp_metadata_xml, or all of "
                             "idp_entity_id, idp_sso_url and idp_cert")
        if bool(self.sp_cert) != bool(self.sp_key):
            raise ValueError("sp_cert and sp_key go together")
        if self.sign_authn_requests and not self.sp_key:
            raise ValueError("sign_authn_requests needs sp_cert and sp_key")
        if self.sp_cert and self.sp_key:
            cert = x509.load_pem_x509_certificate(self.sp_cert.strip().encode())
            key = serialization.load_pem_private_key(self.sp_key.strip().encode(), password=None)
            if cert.public_key().public_numbers() != key.public_key().public_numbers():
                raise ValueError("sp_cert is not the certificate of sp_key")
        return self


@dataclass(frozen=True)
class IdpDescription:
    """What Ferry needs to know about the IdP."""

    entity_id: str
    sso_url: str
    certs: tuple[str, ...]  # base64 DER, signing certificates (several during a rollover)
    wants_signed_requests: bool = False


def describe_idp(settings: SamlSettings, metadata_xml: str | bytes | None) -> IdpDescription:
    """The IdP from its metadata (if any) overlaid with the explicit settings.

    Raises ``ValueError`` with an operator-readable reason when something is missing.
    """
    entity_id, sso_url, certs, wants_signed = None, None, [], False
    if metadata_xml is not None:
        try:
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(
                metadata_xml, required_sso_binding=Saml.BINDING_HTTP_REDIRECT,
                entity_id=settings.idp_entity_id,
            )
        except Exception as error:  # lxml, DTDForbidden, EntitiesForbidden...
            raise ValueError(f"IdP metadata is not usable XML ({type(error).__name__})") from None
        idp = parsed.get("idp", {})
        entity_id = idp.get("entityId")
        sso_url = idp.get("singleSignOnService", {}).get("url")
        multi = idp.get("x509certMulti", {}).get("signing")
        certs = list(multi) if multi else ([idp["x509cert"]] if idp.get("x509cert") else [])
        wants_signed = parsed.get("security", {}).get("authnRequestsSigned", False)
        if entity_id is None:
            which = f" for {settings.idp_entity_id}" if settings.idp_entity_id else ""
            raise ValueError(f"IdP metadata has no IDPSSODescriptor{which}")
    entity_id = settings.idp_entity_id or entity_id
    sso_url = settings.idp_sso_url or sso_url
    if settings.idp_cert:
        certs = certificate_bodies(settings.idp_cert)
    if not sso_url:
        raise ValueError("IdP metadata has no SingleSignOnService with the HTTP-Redirect binding "
                         "(set idp_sso_url)")
    _url(sso_url)
    if not certs:
        raise ValueError("IdP metadata has no signing certificate (set idp_cert)")
    return IdpDescription(entity_id, sso_url, tuple(certs), wants_signed)


class IdpSource:
    """The current :class:`IdpDescription`: parsed once, or fetched and cached from a URL.

    A failed refresh keeps the description already known (logged), and is retried a minute
    later; with nothing known yet the IdP is unavailable.
    """

    RETRY_AFTER = 60.0

    def __init__(self, name: str, settings: SamlSettings, connect_timeout: float,
                 read_timeout: float) -> None:
        self.name = name
        self.settings = settings
        self._lock = threading.Lock()
        self._described: IdpDescription | None = None
        self._fetched_at = float("-inf")  # never: monotonic() may be small after a boot
        self.http = LegacyHttp(name, connect_timeout, read_timeout, settings)
        if not settings.idp_metadata_url:
            # Inline XML or explicit settings: checked at start-up, never fetched.
            self._described = describe_idp(settings, settings.idp_metadata_xml)
            self._fetched_at = float("inf")

    def current(self) -> IdpDescription:
        with self._lock:
            if time.monotonic() - self._fetched_at >= self.settings.idp_metadata_max_age:
                self._fetch()
            if self._described is None:
                raise LegacyUnavailable(f"no usable metadata from {self.settings.idp_metadata_url}")
            return self._described

    def refresh(self, older_than: float) -> bool:
        """Fetch again if the copy is older than ``older_than`` seconds (a key rollover?)."""
        with self._lock:
            if not self.settings.idp_metadata_url or \
                    time.monotonic() - self._fetched_at < older_than:
                return False
            before = self._described
            self._fetch()
            return self._described != before

    def _fetch(self) -> None:
        url = self.settings.idp_metadata_url
        try:
            response = self.http.request("GET", url, max_bytes=MAX_METADATA_BYTES,
                                         headers={"Accept": "application/samlmetadata+xml"})
            with response:
                if response.status_code != 200:
                    raise LegacyUnavailable(f"IdP metadata at {url} answered {response.status_code}")
                body = self._read_capped(response)
            described = describe_idp(self.settings, body)
        except (LegacyUnavailable, ValueError) as error:
            self._fetched_at = time.monotonic() - self.settings.idp_metadata_max_age + self.RETRY_AFTER
            reason = error.reason if isinstance(error, LegacyUnavailable) else str(error)
            if self._described is not None:
                log.warning("connector %s: keeping the IdP metadata already known: %s", self.name,
                            reason)
                return
            raise LegacyUnavailable(f"IdP metadata at {url}: {reason}") from None
        if self._described and self._described.certs != described.certs:
            log.warning("connector %s: the IdP's signing certificates changed", self.name)
        self._described, self._fetched_at = described, time.monotonic()

    def _read_capped(self, response: Any) -> bytes:
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_METADATA_BYTES:
                    raise LegacyUnavailable(f"IdP metadata larger than {MAX_METADATA_BYTES} bytes")
                chunks.append(chunk)
        except OSError as error:  # requests' read errors are OSErrors (IOError)
            raise LegacyUnavailable(f"reading IdP metadata failed: {type(error).__name__}") from None
        return b"".join(chunks)


def onelogin_settings(settings: SamlSettings, sp_entity_id: str, acs_url: str,
                      idp: IdpDescription | None) -> dict[str, Any]:
    """The settings dictionary of python3-saml, strict, for one ACS URL.

    ``idp`` None builds SP-only settings (enough for the SP metadata document).
    """
    sp: dict[str, Any] = {
        "entityId": sp_entity_id,
        "assertionConsumerService": {"url": acs_url, "binding": Saml.BINDING_HTTP_POST},
        "NameIDFormat": settings.name_id_format,
    }
    if settings.sp_cert and settings.sp_key:
        sp["x509cert"] = certificate_body(settings.sp_cert)
        sp["privateKey"] = settings.sp_key.strip()
    security = {
        "authnRequestsSigned": settings.sign_authn_requests,
        "wantAssertionsSigned": settings.want_assertions_signed,
        "wantMessagesSigned": settings.want_messages_signed,
        "wantNameId": True,
        "wantAttributeStatement": False,  # an IdP may send the NameID alone
        "requestedAuthnContext": False,  # the IdP chooses how its users sign in
        "allowRepeatAttributeName": True,  # values of repeated attributes are merged
        "rejectDeprecatedAlgorithm": not settings.allow_sha1,
        "allowSingleLabelDomains": True,  # URLs are checked by Ferry's own settings (https)
        "signatureAlgorithm": Saml.RSA_SHA256,
        "digestAlgorithm": Saml.SHA256,
    }
    result: dict[str, Any] = {"strict": True, "debug": False, "sp": sp, "security": security}
    if idp is not None:
        result["idp"] = {
            "entityId": idp.entity_id,
            "singleSignOnService": {"url": idp.sso_url, "binding": Saml.BINDING_HTTP_REDIRECT},
        }
        if len(idp.certs) == 1:
            result["idp"]["x509cert"] = idp.certs[0]
        else:
            result["idp"]["x509certMulti"] = {"signing": list(idp.certs)}
    return result
