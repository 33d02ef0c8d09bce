"""SAML 2.0 single sign-on at a legacy IdP, with Ferry as the service provider: type ``saml``.

The user presses "Continue with <IdP>", signs in at the IdP's own page, and comes back with a
signed assertion; Ferry checks it and migrates the user. Built on python3-saml, strict.

Setup at the IdP (register Ferry as an SP, "relying party" in AD FS, "enterprise application"
in Entra ID): give it Ferry's SP metadata URL ``{issuer}/federate/<name>/metadata``, or copy
from it: entity id ``{issuer}/federate/<name>/metadata`` (``sp_entity_id`` to change it), ACS
URL ``{issuer}/federate/<name>/callback`` (HTTP-POST binding), NameID format persistent (a
stable, opaque id per user; or set ``subject_attribute``), and the attributes to release
(e-mail, given name, surname, display name). Have the IdP sign the assertion (the response as
well if you like). Then give Ferry the IdP's metadata URL.

Settings (``[connectors.<name>]``, ``type = "saml"``):

* ``idp_metadata_url``: the IdP's metadata, fetched with the connector's timeouts and cached
  for ``idp_metadata_max_age`` seconds (default 3600; a failed refresh keeps the last copy);
  or ``idp_metadata_xml``: the metadata document itself. ``idp_entity_id`` picks one IdP from
  an aggregate, ``idp_sso_url`` and ``idp_cert`` (PEM, several for a rollover; use
  ``"env:NAME"`` or a file's contents) override what the metadata says; all three together
  replace metadata altogether.
* ``sp_entity_id``: Ferry's entity id (default ``{issuer}/federate/<name>/metadata``).
* ``sp_cert``, ``sp_key`` (PEM; the key as ``"env:NAME"``): Ferry's signing pair, published in
  the SP metadata; ``sign_authn_requests`` (default false) signs each AuthnRequest with it.
* ``want_assertions_signed`` (default true) and ``want_messages_signed`` (default false): the
  signatures required; a response with neither is always refused. ``allow_sha1`` (default
  false) accepts RSA-SHA1 signatures from IdPs that cannot do better.
* ``name_id_format``: asked for in the AuthnRequest: ``persistent`` (default), ``email``,
  ``unspecified``, ``transient`` or a URN. ``subject_attribute``: the attribute that identifies
  a user for good, when the NameID does not (a transient NameID is refused without it).
  A NameID of another format than the one asked for (an e-mail address where a persistent id
  was asked for) is refused, since it may change for the same person, unless its format is
  listed in ``accept_name_id_formats`` (then each one is logged); with ``unspecified`` asked
  for, any format but transient is taken.
* ``attribute_aliases``: ``{claim = "attribute name"}``, to reach attributes whose names have
  dots (OIDs, URIs) from ``mapping``. The claims are described in :mod:`connectors.saml.claims`;
  the default ``mapping`` reads ``email``, ``given_name``, ``family_name``, ``name``, ``locale``.
* ``clock_skew`` (seconds, default 120): tolerance on the assertion's ``Conditions``.
* ``force_authn`` (default false): ask the IdP to authenticate the user again.
* ``display_name`` (the button's "Continue with ..."), ``mapping``, ``connect_timeout``,
  ``read_timeout``, ``breaker_failures``, ``breaker_reset``, ``rate_limit``: as every connector.

Outcomes: a valid assertion is an identity (subject: the NameID or ``subject_attribute``). A
status other than Success is :class:`InvalidCredentials` (the IdP refused or the user gave up),
except statuses that say Ferry's request is wrong (``InvalidNameIDPolicy``...): those are
:class:`LegacyUnavailable`, like a transient NameID or a missing ``subject_attribute`` (answers
the circuit breaker does not count) and unreachable metadata (which it counts). Anything forged,
wrapped, replayed, expired, for another audience, destination or request is
:class:`FederationRejected` with the reason (see :mod:`connectors.saml.response`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import url_for
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from connectors.base import (
    ExternalIdentity,
    FederationRejected,
    InvalidCredentials,
    RedirectConnector,
)
from connectors.saml.claims import build_claims
from connectors.saml.response import (
    CONFIGURATION_STATUSES,
    ReplayCache,
    StrictResponse,
    decode,
    rejected,
)
from connectors.saml.settings import IdpDescription, IdpSource, SamlSettings, onelogin_settings
from settings.errors import ConfigError

log = logging.getLogger(__name__)

#: Rejections after which fresh IdP metadata may help (the IdP rolled its signing key over).
_KEY_ROLLOVER_HINTS = ("invalid_signature",)
_REFETCH_AFTER = 300.0


def _request_data(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {"https": "on" if parts.scheme == "https" else "off", "http_host": parts.netloc,
            "script_name": "", "path_info": parts.path, "get_data": {}, "post_data": {}}


class SamlConnector(RedirectConnector):
    type = "saml"
    Settings = SamlSettings
    settings: SamlSettings

    def __init__(self, name: str, settings: SamlSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.issuer = config["ISSUER"]
        self.sp_entity_id = settings.sp_entity_id or f"{self.issuer}/federate/{name}/metadata"
        try:
            self.idp = IdpSource(name, settings, self.connect_timeout, self.read_timeout)
        except ValueError as error:
            raise ConfigError([f"connectors.{name}: {error}"]) from None
        self.replay_cache = ReplayCache(config.get("RATELIMIT_STORAGE_URI", "memory://"))
        self._metadata: str | None = None
        self._warned_unsigned = False

    # -- the way out ---------------------------------------------------------------------
    def destination(self) -> str | None:
        """The IdP's SSO URL (from inline metadata, parsed at start-up), or the metadata URL's
        origin until the first redirect tells."""
        settings = self.settings
        if settings.idp_sso_url:
            return settings.idp_sso_url
        if not settings.idp_metadata_url:
            return self.idp.current().sso_url
        return settings.idp_metadata_url

    def start(self, reference: str, callback_url: str) -> tuple[str, dict[str, Any]]:
        idp = self.idp.current()
        if idp.wants_signed_requests and not self.settings.sign_authn_requests \
                and not self._warned_unsigned:
            self._warned_unsigned = True
            log.warning("connector %s: the IdP's metadata asks for signed AuthnRequests; set "
                        "sp_cert, sp_key and sign_authn_requests", self.name)
        settings = self._onelogin(callback_url, idp)
        try:
            auth = OneLogin_Saml2_Auth(_request_data(callback_url), settings)
            url = auth.login(return_to=reference, force_authn=self.settings.force_authn)
        except OneLogin_Saml2_Error as error:
            raise self.unavailable(f"cannot build the AuthnRequest: {error}") from None
        return url, {"request_id": auth.get_last_request_id()}

    def reference_from(self, params: dict[str, str]) -> str | None:
        return params.get("RelayState")

    def metadata(self) -> str:
        if self._metadata is None:
            acs_url = self.issuer + url_for("federation.callback", connector=self.name)
            settings = OneLogin_Saml2_Settings(
                onelogin_settings(self.settings, self.sp_entity_id, acs_url, None),
                sp_validation_only=True,
            )
            document = etree.fromstring(settings.get_sp_metadata())
            # Served live, so no validUntil: a copy made by an operator must not expire.
            document.attrib.pop("validUntil", None)
            self._metadata = etree.tostring(document, xml_declaration=True,
                                            encoding="UTF-8").decode()
        return self._metadata

    # -- the way back --------------------------------------------------------------------
    def complete(self, params: dict[str, str], state: dict[str, Any],
                 callback_url: str) -> ExternalIdentity:
        request_id = state.get("request_id")
        encoded = params.get("SAMLResponse")
        if not request_id:
            raise rejected("no AuthnRequest pending for this sign-in")
        if not encoded:
            raise rejected("the answer carries no SAMLResponse")
        decode(encoded)
        idp = self.idp.current()
        try:
            response = self._checked(encoded, request_id, callback_url, idp)
        except FederationRejected as error:
            if not error.reason.startswith(_KEY_ROLLOVER_HINTS) or \
                    not self.idp.refresh(older_than=_REFETCH_AFTER):
                raise
            idp = self.idp.current()
            response = self._checked(encoded, request_id, callback_url, idp)
        identity = self._identity(response, idp)
        assertion_id = response.get_assertion_id()
        if not self.replay_cache.first_use(f"{self.name}\0{idp.entity_id}", assertion_id,
                                           response.not_on_or_after() + self.settings.clock_skew):
            raise rejected(f"replayed assertion {assertion_id!r}")
        return identity

    def _onelogin(self, acs_url: str, idp: IdpDescription) -> OneLogin_Saml2_Settings:
        raw = onelogin_settings(self.settings, self.sp_entity_id, acs_url, idp)
        raw["security"]["wantNameId"] = self.settings.subject_attribute is None
        try:
            return OneLogin_Saml2_Settings(raw)
        except OneLogin_Saml2_Error as error:  # e.g. an SSO URL python3-saml does not accept
            raise self.unavailable(f"python3-saml refused the settings: {error}") from None

    def _checked(self, encoded: str, request_id: str, acs_url: str,
                 idp: IdpDescription) -> StrictResponse:
        settings = self._onelogin(acs_url, idp)
        try:
            response = StrictResponse(settings, encoded, self.settings.clock_skew)
        except OneLogin_Saml2_Error as error:  # e.g. an encrypted assertion Ferry cannot read
            raise rejected(f"unreadable response: {error}") from None
        code, second, message = response.status()
        in_response_to = response.document.get("InResponseTo")
        if in_response_to != request_id:
            raise rejected(f"wrong_inresponseto: {in_response_to!r} is not this sign-in's request")
        if code != Saml.STATUS_SUCCESS:
            self._refused(code, second, message)
        response.check(acs_url, request_id, self.sp_entity_id)
        return response

    def _refused(self, code: str, second: str | None, message: str) -> None:
        names = [value.rsplit(":", 1)[-1] for value in (code, second) if value]
        status = "/".join(names)
        if any(name in CONFIGURATION_STATUSES for name in names):
            raise self.unavailable(f"the IdP refused Ferry's request: {status} {message[:200]}",
                                   outage=False)
        log.info("connector %s: the IdP answered %s", self.name, status)
        raise InvalidCredentials()

    def _identity(self, response: StrictResponse, idp: IdpDescription) -> ExternalIdentity:
        try:
            name_id = response.get_nameid_data()
            attributes = response.get_attributes()
            session_index = response.get_session_index()
            contexts = response.get_authn_contexts()
        except OneLogin_Saml2_ValidationError as error:
            raise rejected(f"unusable subject or attributes: {error}") from None
        friendly = {
            node.get("Name"): node.get("FriendlyName")
            for node in response._query_assertion("/saml:AttributeStatement/saml:Attribute")
            if node.get("Name") and node.get("FriendlyName")
        }
        claims = build_claims(
            name_id=name_id, session_index=session_index, authn_contexts=contexts,
            issuer=idp.entity_id, attributes=attributes, friendly_names=friendly,
            aliases=self.settings.attribute_aliases,
        )
        return ExternalIdentity(self.name, self._subject(claims), claims)

    def _subject(self, claims: dict[str, Any]) -> str:
        wanted = self.settings.subject_attribute
        if wanted:
            value = claims.get(wanted)
            if not isinstance(value, str) or not value.strip():
                raise self.unavailable(f"the IdP sent no single-valued {wanted!r} attribute "
                                       "(subject_attribute)", outage=False)
            return value
        sent = claims.get("name_id_format") or Saml.NAMEID_UNSPECIFIED
        if sent == Saml.NAMEID_TRANSIENT:
            raise self.unavailable("the IdP sent a transient NameID: ask it for a persistent one "
                                   "or set subject_attribute", outage=False)
        wanted = self.settings.name_id_format
        if sent != wanted and wanted != Saml.NAMEID_UNSPECIFIED:
            if sent not in self.settings.accept_name_id_formats:
                # A NameID of another kind (an e-mail where a persistent id was asked for) may
                # change for the same person: it must not become the permanent legacy link.
                raise self.unavailable(f"the IdP sent a NameID of format {sent!r}, not the "
                                       f"{wanted!r} asked for (list it in "
                                       "accept_name_id_formats, or set subject_attribute)",
                                       outage=False)
            log.warning("connector %s: NameID of format %r taken as the subject (accepted by "
                        "accept_name_id_formats; %r was asked for)", self.name, sent, wanted)
        return claims["name_id"]
