"""Checking a SAML Response for the ``saml`` connector, strictly, and remembering assertions.

python3-saml (``strict``) does the heavy lifting: schema, signatures (xmlsec), the one-assertion
rule that defeats signature wrapping, issuer, audience, timestamps, subject confirmation. Ferry
adds what it leaves loose or global:

* the XML is refused before python3-saml sees it if it carries a DTD, an entity declaration, a
  comment or a processing instruction (a comment inside a signed NameID is how
  ``alice@example.com<!---->.evil.com`` is made to read as ``alice@example.com``);
* ``InResponseTo`` must be present and be this run's request (python3-saml accepts its
  absence: an unsolicited response);
* ``Destination`` (required once the response is signed), the subject confirmation's
  ``Recipient`` and the audience must equal the ACS URL and the SP entity id exactly
  (python3-saml compares prefixes and substrings, and accepts an absent audience);
* the clock skew is the connector's ``clock_skew``, not python3-saml's module-wide constant,
  and it applies to the subject confirmation too (python3-saml allows it none there);
* the assertion id is kept in a :class:`ReplayCache` until the assertion expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from copy import deepcopy
from typing import Any
from urllib.parse import urlsplit

from limits.storage import storage_from_string
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils, return_false_on_exception

from connectors.base import FederationRejected, LegacyUnavailable

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024
_CODE_NAMES = {value: name.lower() for name, value in vars(OneLogin_Saml2_ValidationError).items()
               if name.isupper() and isinstance(value, int)}

#: Second-level status codes that say Ferry's request or settings are wrong, not the user.
CONFIGURATION_STATUSES = ("InvalidNameIDPolicy", "UnsupportedBinding", "RequestUnsupported",
                          "RequestVersionDeprecated", "RequestVersionTooHigh",
                          "RequestVersionTooLow", "NoSupportedIDP", "VersionMismatch")

_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                       remove_comments=False, remove_pis=False)


def rejected(reason: str) -> FederationRejected:
    reason = " ".join(reason.split())[:300]
    log.warning("SAML response rejected: %s", reason)
    return FederationRejected(reason)


def decode(encoded: str) -> bytes:
    """The XML of a POSTed ``SAMLResponse``, refused unless plain: no DTD, entity or comment."""
    if len(encoded) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
        raise rejected("SAMLResponse too large")
    try:
        xml = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise rejected("SAMLResponse is not base64") from None
    try:
        root = etree.fromstring(xml, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        # libxml2 stops an entity expansion bomb while parsing, before the check below.
        if b"<!DOCTYPE" in xml[:4096] or "entit" in str(error).lower():
            raise rejected("SAMLResponse carries a DTD (entities are never expanded)") from None
        raise rejected("SAMLResponse is not well-formed XML") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise rejected("SAMLResponse carries a DTD (entities are never expanded)")
    if root.xpath("//comment() | //processing-instruction()"):  # top-level ones included
        raise rejected("SAMLResponse carries an XML comment or processing instruction")
    if root.tag != f"{{{Saml.NS_SAMLP}}}Response":
        raise rejected(f"not a SAML Response but {etree.QName(root).localname}")
    return xml


class StrictResponse(OneLogin_Saml2_Response):
    """python3-saml's Response with a per-connector clock skew and Ferry's extra checks."""

    def __init__(self, settings: Any, encoded: str, clock_skew: int) -> None:
        self.clock_skew = clock_skew  # before super(): it may query the assertion already
        super().__init__(settings, encoded)

    @return_false_on_exception
    def validate_timestamps(self) -> bool:
        """Conditions ``NotBefore`` / ``NotOnOrAfter`` with this connector's skew."""
        now = OneLogin_Saml2_Utils.now()
        for conditions in self._query_assertion("/saml:Conditions"):
            not_before = conditions.get("NotBefore")
            not_on_or_after = conditions.get("NotOnOrAfter")
            if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) > now + self.clock_skew:
                raise OneLogin_Saml2_ValidationError(
                    "assertion not yet valid (Conditions NotBefore)",
                    OneLogin_Saml2_ValidationError.ASSERTION_TOO_EARLY)
            if not_on_or_after and \
                    OneLogin_Saml2_Utils.parse_SAML_to_time(not_on_or_after) + self.clock_skew <= now:
                raise OneLogin_Saml2_ValidationError(
                    "assertion expired (Conditions NotOnOrAfter)",
                    OneLogin_Saml2_ValidationError.ASSERTION_EXPIRED)
        return True

    def _query_assertion(self, xpath_expr: str) -> list:
        """As python3-saml's, but subject confirmations come back with the skew applied.

        python3-saml checks ``SubjectConfirmationData`` NotBefore / NotOnOrAfter against its
        own clock with no tolerance; it reads them through this query only, so it gets copies
        widened by ``clock_skew``. Signatures are verified on the document itself, untouched.
        """
        nodes = super()._query_assertion(xpath_expr)
        if xpath_expr != "/saml:Subject/saml:SubjectConfirmation" or not self.clock_skew:
            return nodes
        widened = []
        for node in nodes:
            node = deepcopy(node)
            data = node.find("saml:SubjectConfirmationData", namespaces=Saml.NSMAP)
            for name, shift in (("NotOnOrAfter", self.clock_skew), ("NotBefore", -self.clock_skew)):
                if data is not None and data.get(name):
                    moment = OneLogin_Saml2_Utils.parse_SAML_to_time(data.get(name)) + shift
                    data.set(name, OneLogin_Saml2_Utils.parse_time_to_SAML(moment))
            widened.append(node)
        return widened

    def status(self) -> tuple[str, str | None, str]:
        """(top-level code, second-level code or None, message) of the Status element."""
        try:
            status = OneLogin_Saml2_Utils.get_status(self.document)
        except OneLogin_Saml2_ValidationError as error:
            raise rejected(str(error)) from None
        nodes = self.document.xpath("/samlp:Response/samlp:Status/samlp:StatusCode/samlp:StatusCode",
                                    namespaces=Saml.NSMAP)
        second = nodes[0].get("Value") if nodes else None
        return status.get("code") or "", second, status.get("msg") or ""

    def check(self, acs_url: str, request_id: str, sp_entity_id: str) -> None:
        """Run python3-saml's strict validation, then Ferry's exact-match checks."""
        parts = urlsplit(acs_url)
        request_data = {
            "https": "on" if parts.scheme == "https" else "off", "http_host": parts.netloc,
            "script_name": "", "path_info": parts.path, "get_data": {}, "post_data": {},
        }
        try:
            self.is_valid(request_data, request_id, raise_exceptions=True)
        except OneLogin_Saml2_ValidationError as error:
            if error.code == OneLogin_Saml2_ValidationError.WRONG_AUDIENCE:
                # python3-saml names Ferry's own entity id; the operator needs what was sent.
                raise rejected(self._audience_problem(sp_entity_id)) from None
            raise rejected(f"{_CODE_NAMES.get(error.code, 'invalid')}: {error}") from None
        except Exception as error:  # xmlsec and lxml errors on hostile input
            raise rejected(f"invalid response ({type(error).__name__})") from None
        self._check_exact(acs_url, request_id, sp_entity_id)

    def _audiences(self) -> list[str]:
        return [node.text or "" for node in
                self._query_assertion("/saml:Conditions/saml:AudienceRestriction/saml:Audience")]

    def _audience_problem(self, sp_entity_id: str) -> str:
        """The wrong-audience reason, naming what the assertion was for (shortened, quoted)."""
        received = ", ".join(repr(audience[:200]) for audience in self._audiences()[:3])
        return (f"wrong_audience: the assertion is for {received or 'no audience'}, not for "
                f"this SP ({sp_entity_id!r})")

    def _check_exact(self, acs_url: str, request_id: str, sp_entity_id: str) -> None:
        destination = self.document.get("Destination")
        signed_response = bool(self.document.xpath("/samlp:Response/ds:Signature",
                                                   namespaces=Saml.NSMAP))
        if destination is None and signed_response:
            raise rejected("wrong_destination: a signed response must name its Destination")
        if destination is not None and destination != acs_url:
            raise rejected(f"wrong_destination: {destination!r} is not this ACS")
        if sp_entity_id not in self._audiences():
            raise rejected(self._audience_problem(sp_entity_id))
        for confirmation in self._query_assertion("/saml:Subject/saml:SubjectConfirmation"):
            data = confirmation.find("saml:SubjectConfirmationData", namespaces=Saml.NSMAP)
            if (confirmation.get("Method") == Saml.CM_BEARER and data is not None
                    and data.get("Recipient") == acs_url
                    and data.get("InResponseTo") == request_id
                    and data.get("NotOnOrAfter")):
                return
        raise rejected("wrong_subjectconfirmation: no bearer confirmation with this ACS as "
                       "Recipient, this request as InResponseTo and a NotOnOrAfter")

    def not_on_or_after(self) -> float:
        """When the assertion stops being acceptable: its latest NotOnOrAfter."""
        stamps = [self.get_assertion_not_on_or_after() or 0]
        for conditions in self._query_assertion("/saml:Conditions[@NotOnOrAfter]"):
            stamps.append(OneLogin_Saml2_Utils.parse_SAML_to_time(conditions.get("NotOnOrAfter")))
        return float(max(stamps))


class ReplayCache:
    """Assertion ids already used, until their assertion expires.

    Lives in the rate-limit storage (``ratelimit_storage_uri``): in process with ``memory://``,
    shared by every Ferry server with Redis. ``incr`` is atomic, so of two servers receiving
    the same assertion at once exactly one sees it first.
    """

    MAX_KEEP = 24 * 3600

    def __init__(self, storage_uri: str) -> None:
        self.storage_uri = storage_uri
        self._storage = None

    def first_use(self, namespace: str, assertion_id: str, expires_at: float) -> bool:
        key = "ferry-saml-assertion:" + hashlib.sha256(
            f"{namespace}\0{assertion_id}".encode()).hexdigest()
        keep = int(min(max(expires_at - time.time(), 1), self.MAX_KEEP)) + 1
        try:
            if self._storage is None:
                self._storage = storage_from_string(self.storage_uri)
            return self._storage.incr(key, keep) == 1
        except Exception as error:  # Redis down: fail closed
            raise LegacyUnavailable(f"replay cache unavailable ({type(error).__name__})") from None
