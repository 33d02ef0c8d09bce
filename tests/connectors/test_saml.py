"""The ``saml`` connector without a browser: settings, SP metadata, the AuthnRequest, the ACS.

Every answer is posted to Ferry's ACS with the Flask test client after a real journey run
started it (so the RelayState and the request id are the run's), exactly as a browser would
after the IdP's auto-submitting form. The hostile corpus (``saml_corpus``) must each be refused
with a clear page, audited as ``federation.rejected`` with a reason, and leave every user and
legacy link as it was.
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from onelogin.saml2.xmlparser import DTDForbidden
from werkzeug.serving import make_server

import connectors.saml
from connectors.saml_claims import build_claims
from models import AuditEvent, JourneyRun, LegacyLink, User, db
from settings.errors import ConfigError
from tests.conftest import SignIn
from tests.connectors.conftest import current_step, page_text
from tests.connectors.saml_corpus import (
    BILLION_LAUGHS,
    CONNECTOR,
    EXTERNAL_ENTITY,
    CorpusIdp,
    Request,
    comment_in_name_id,
    encode,
    new_id,
    saml_deployment,
    signing_pair,
    with_doctype,
    wrapping_variants,
)

ACS = f"http://localhost/federate/{CONNECTOR}/callback"
SP_ENTITY_ID = f"http://localhost/federate/{CONNECTOR}/metadata"
REJECTED = "We could not verify the answer from Corp SSO, so we did not use it."
REFUSED = "Signing in with Corp SSO was cancelled or refused."
UNAVAILABLE = "We can't reach Corp SSO right now"


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def idp() -> CorpusIdp:
    return CorpusIdp()


@pytest.fixture
def saml_app(make_app, idp):
    """``saml_app(**settings)``: Ferry with the corpus IdP as ``corp-saml``, by inline metadata
    unless ``idp_metadata_url`` or ``idp_metadata_xml`` is given (None leaves a key out)."""

    def build(**settings):
        table = {"type": "saml", "display_name": "Corp SSO", **settings}
        if not {"idp_metadata_url", "idp_metadata_xml"} & settings.keys():
            table["idp_metadata_xml"] = idp.metadata()
        table = {key: value for key, value in table.items() if value is not None}
        return make_app(DEPLOYMENT=saml_deployment(table))

    return build


@pytest.fixture
def app(saml_app):
    return saml_app()


class Federation:
    """One browser at Ferry: starts sign-ins at the IdP and posts answers to the ACS."""

    def __init__(self, app) -> None:
        self.app = app
        self.walker = SignIn(app.test_client())
        self.redirect: str | None = None

    def start(self) -> Request:
        """authorize -> sign-in page -> "Continue with Corp SSO" -> the IdP's redirect URL."""
        assert self.walker.authorize().status_code == 302
        self.walker.open()
        answer = self.walker.post(federate=CONNECTOR)
        assert answer.status_code in (302, 303), page_text(answer)[:500]
        self.redirect = answer.headers["Location"]
        query = parse_qs(urlsplit(self.redirect).query)
        request = etree.fromstring(OneLogin_Saml2_Utils.decode_base64_and_inflate(
            query["SAMLRequest"][0]))
        return Request(request_id=request.get("ID"), acs=request.get("AssertionConsumerServiceURL"),
                       audience=request.findtext(f"{{{Saml.NS_SAML}}}Issuer"),
                       relay_state=query["RelayState"][0])

    def answer(self, encoded: str | None, relay_state: str | None, **extra: str):
        """The IdP's form posted to the ACS; returns (ACS answer, page it leads to)."""
        form = {key: value for key, value in
                {"SAMLResponse": encoded, "RelayState": relay_state, **extra}.items()
                if value is not None}
        callback = self.walker.client.post(f"/federate/{CONNECTOR}/callback", data=form)
        if callback.status_code != 303:
            return callback, None
        page = self.walker.client.get(callback.headers["Location"])
        if page.status_code == 200:
            self.walker.page = page
        return callback, page


def snapshot(app) -> tuple[list[dict], list[dict]]:
    """Every user and legacy link, all columns: what a refused answer must not touch."""
    with app.app_context(), db.connection_context():
        return list(User.select().dicts()), list(LegacyLink.select().dicts())


def audit(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [row.details for row in
                AuditEvent.select().where(AuditEvent.event == event).order_by(AuditEvent.id)]


def assert_refused(app, federation: Federation, encoded: str, request: Request,
                   *reasons: str) -> str:
    """``encoded`` is refused: clear page, audited with one of ``reasons``, nothing changed."""
    before = snapshot(app)
    rejections = len(audit(app, "federation.rejected"))
    callback, page = federation.answer(encoded, request.relay_state)
    assert callback.status_code == 303
    assert page.status_code == 200, page_text(page)[:500]
    assert REJECTED in page_text(page)
    assert current_step(federation.walker) == "collect"  # back at the sign-in page, not signed in
    recorded = audit(app, "federation.rejected")
    assert len(recorded) == rejections + 1
    reason = recorded[-1]["reason"]
    assert any(expected in reason for expected in reasons), reason
    assert snapshot(app) == before
    return reason


def migrate_alice(app, idp: CorpusIdp, **assertion) -> Federation:
    federation = Federation(app)
    request = federation.start()
    callback, page = federation.answer(encode(idp.signed(request, **assertion)),
                                       request.relay_state)
    assert page.status_code in (302, 303) and page.headers["Location"].startswith(
        "http://localhost:8000/callback?code="), page_text(page)[:800]
    return federation


# -- settings --------------------------------------------------------------------------------


def connector_problems(make_app, table: dict) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        make_app(DEPLOYMENT=saml_deployment({"type": "saml", **table}))
    return raised.value.problems


@pytest.mark.parametrize("table, problem", [
    ({}, "describe the IdP"),
    ({"idp_metadata_url": "https://idp.example/md", "idp_metadata_xml": "<x/>"}, "not both"),
    ({"idp_metadata_url": "http://idp.example/md"}, "must use https"),
    ({"idp_entity_id": "urn:idp", "idp_sso_url": "https://idp.example/sso",
      "idp_cert": "not a certificate"}, "idp_cert"),
    ({"idp_metadata_xml": "<nope", "sign_authn_requests": True}, "sign_authn_requests needs"),
    ({"idp_metadata_xml": "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata' "
                          "entityID='urn:x'/>"}, "no IDPSSODescriptor"),
    ({"idp_metadata_xml": "<!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>"}, "not usable XML"),
    ({"idp_metadata_xml": "<x/>", "name_id_format": "sometimes"}, "name_id_format"),
    ({"idp_metadata_xml": "<x/>", "attribute_aliases": {"a.b": "urn:oid:1"}}, "attribute_aliases"),
    ({"idp_metadata_xml": "<x/>", "clock_skew": 3600}, "clock_skew"),
])
def test_invalid_settings_fail_at_start_up(make_app, table, problem):
    problems = connector_problems(make_app, table)
    assert any(problem in line and line.startswith(f"connectors.{CONNECTOR}") for line in problems), \
        problems


def test_sp_key_must_match_sp_cert(make_app, idp):
    key, _cert = signing_pair("ferry")
    _other_key, other_cert = signing_pair("someone else")
    problems = connector_problems(make_app, {"idp_metadata_xml": idp.metadata(),
                                             "sp_key": key, "sp_cert": other_cert})
    assert any("sp_cert is not the certificate of sp_key" in line for line in problems)


# -- SP metadata and the AuthnRequest --------------------------------------------------------


def test_sp_metadata_tells_the_idp_what_to_register(app):
    answer = app.test_client().get(f"/federate/{CONNECTOR}/metadata")
    assert answer.status_code == 200
    assert answer.mimetype == "application/samlmetadata+xml"
    document = etree.fromstring(answer.data)
    assert document.get("entityID") == SP_ENTITY_ID
    assert document.get("validUntil") is None  # a copy made by an operator never expires
    sp = document.find(f"{{{Saml.NS_MD}}}SPSSODescriptor")
    assert sp.get("AuthnRequestsSigned") == "false"
    assert sp.get("WantAssertionsSigned") == "true"
    acs = sp.find(f"{{{Saml.NS_MD}}}AssertionConsumerService")
    assert (acs.get("Binding"), acs.get("Location")) == (Saml.BINDING_HTTP_POST, ACS)
    assert sp.findtext(f"{{{Saml.NS_MD}}}NameIDFormat") == Saml.NAMEID_PERSISTENT
    assert sp.find(f"{{{Saml.NS_MD}}}KeyDescriptor") is None  # no SP key configured


def test_authn_request_goes_by_redirect_and_binds_the_run(app, idp):
    federation = Federation(app)
    request = federation.start()
    url = urlsplit(federation.redirect)
    assert f"{url.scheme}://{url.netloc}{url.path}" == idp.sso_url
    query = parse_qs(url.query)
    assert set(query) == {"SAMLRequest", "RelayState"}  # not signed unless configured
    xml = etree.fromstring(OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0]))
    assert xml.get("Destination") == idp.sso_url
    assert xml.get("ProtocolBinding") == Saml.BINDING_HTTP_POST
    assert xml.get("ForceAuthn") is None
    assert (request.acs, request.audience) == (ACS, SP_ENTITY_ID)
    policy = xml.find(f"{{{Saml.NS_SAMLP}}}NameIDPolicy")
    assert policy.get("Format") == Saml.NAMEID_PERSISTENT
    assert xml.find(f"{{{Saml.NS_SAMLP}}}RequestedAuthnContext") is None  # the IdP decides how
    # The request id is kept in the journey run (server side), to be matched by InResponseTo.
    with app.app_context(), db.connection_context():
        contexts = [run.context for run in JourneyRun.select()]
    assert [c["federation"]["state"] for c in contexts if "federation" in c] == [
        {"request_id": request.request_id}]
    # The RelayState is the run's single-use reference, not a URL; each start makes a new one.
    assert re.fullmatch(r"[\w-]{40,}", request.relay_state)
    again = Federation(app).start()
    assert (again.request_id, again.relay_state) != (request.request_id, request.relay_state)


def test_signed_authn_request_and_force_authn(saml_app):
    key, cert = signing_pair("ferry sp")
    app = saml_app(sp_key=key, sp_cert=cert, sign_authn_requests=True, force_authn=True)
    metadata = etree.fromstring(app.test_client().get(f"/federate/{CONNECTOR}/metadata").data)
    sp = metadata.find(f"{{{Saml.NS_MD}}}SPSSODescriptor")
    assert sp.get("AuthnRequestsSigned") == "true"
    published = sp.findtext(f".//{{{Saml.NS_DS}}}X509Certificate")
    assert "".join(published.split()) == "".join(cert.strip().splitlines()[1:-1])

    federation = Federation(app)
    federation.start()
    query = parse_qs(urlsplit(federation.redirect).query)
    assert query["SigAlg"] == [Saml.RSA_SHA256]
    # The signature covers SAMLRequest, RelayState and SigAlg as sent (SAML bindings 3.4.4.1).
    raw = dict(part.split("=", 1) for part in urlsplit(federation.redirect).query.split("&"))
    signed_part = "&".join(f"{name}={raw[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg"))
    assert OneLogin_Saml2_Utils.validate_binary_sign(
        signed_part, OneLogin_Saml2_Utils.b64decode(query["Signature"][0]), cert, Saml.RSA_SHA256)
    xml = etree.fromstring(OneLogin_Saml2_Utils.decode_base64_and_inflate(query["SAMLRequest"][0]))
    assert xml.get("ForceAuthn") == "true"


def test_explicit_idp_settings_instead_of_metadata(saml_app, idp):
    app = saml_app(idp_metadata_xml=None, idp_entity_id=idp.entity_id, idp_sso_url=idp.sso_url,
                   idp_cert=idp.keys[1])
    migrate_alice(app, idp)
    assert len(snapshot(app)[0]) == 1


def test_a_pinned_idp_cert_wins_over_the_metadata(saml_app, idp):
    pinned_key, pinned_cert = signing_pair("the certificate the operator pinned")
    app = saml_app(idp_cert=pinned_cert)
    federation = Federation(app)
    request = federation.start()
    # Signed with the key the metadata names, which is not the pinned one: refused.
    assert_refused(app, federation, encode(idp.signed(request)), request, "invalid_signature")
    idp.keys = (pinned_key, pinned_cert)
    migrate_alice(app, idp)


def test_a_custom_sp_entity_id_is_the_audience(saml_app, idp):
    app = saml_app(sp_entity_id="urn:example:ferry")
    metadata = etree.fromstring(app.test_client().get(f"/federate/{CONNECTOR}/metadata").data)
    assert metadata.get("entityID") == "urn:example:ferry"
    federation = Federation(app)
    request = federation.start()
    assert request.audience == "urn:example:ferry"
    assert_refused(app, federation, encode(idp.signed(request, audience=SP_ENTITY_ID)), request,
                   "wrong_audience")
    migrate_alice(app, idp)  # the corpus IdP answers with the request's Issuer as audience


# -- valid answers ---------------------------------------------------------------------------


def test_a_valid_answer_migrates_the_user_with_mapped_attributes(app, idp):
    assert snapshot(app) == ([], [])
    migrate_alice(app, idp)
    users, links = snapshot(app)
    assert [(u["email"], u["given_name"], u["family_name"], u["name"]) for u in users] == [
        ("alice@example.com", "Alice", "Liddell", "Alice Liddell")]
    assert [(link["connector"], link["subject"]) for link in links] == [
        (CONNECTOR, "persistent-alice-7f3a")]
    assert audit(app, "legacy.verified")[-1]["subject"] == "persistent-alice-7f3a"
    assert audit(app, "federation.rejected") == []

    # The next sign-in finds the same user through the link (nothing new is created).
    migrate_alice(app, idp)
    again_users, again_links = snapshot(app)
    assert [u["id"] for u in again_users] == [u["id"] for u in users]
    assert len(again_links) == 1


def test_response_signature_alone_when_assertion_signatures_are_not_required(saml_app, idp):
    app = saml_app(want_assertions_signed=False)
    migrate_alice(app, idp, sign_assertion=False, sign_response=True)
    assert len(snapshot(app)[0]) == 1


def test_response_and_assertion_both_signed_are_accepted(saml_app, idp):
    app = saml_app(want_messages_signed=True)
    migrate_alice(app, idp, sign_assertion=True, sign_response=True)
    assert len(snapshot(app)[0]) == 1


@pytest.mark.parametrize("window", [
    {"not_on_or_after": -60},  # Conditions ended 60 s ago by Ferry's clock
    {"confirmation_expires": -60},  # so did the subject confirmation
    {"not_before": 60},  # the IdP's clock is a minute ahead
])
def test_clock_skew_tolerates_a_slightly_wrong_idp_clock(saml_app, idp, window):
    app = saml_app(clock_skew=120)
    migrate_alice(app, idp, **window)
    assert len(snapshot(app)[0]) == 1


@pytest.mark.parametrize("window, reason", [
    ({"not_on_or_after": -5}, "assertion_expired"),  # python3-saml alone would allow 300 s
    ({"confirmation_expires": -5}, "wrong_subjectconfirmation"),
])
def test_no_clock_skew_means_none(saml_app, idp, window, reason):
    app = saml_app(clock_skew=0)
    federation = Federation(app)
    request = federation.start()
    assert_refused(app, federation, encode(idp.signed(request, **window)), request, reason)
    assert Saml.ALLOWED_CLOCK_DRIFT == 300  # the module-wide constant is left alone


def test_a_response_signed_by_another_key_when_only_responses_are_signed(saml_app, idp):
    app = saml_app(want_assertions_signed=False, want_messages_signed=True)
    federation = Federation(app)
    request = federation.start()
    forged = idp.signed(request, sign_assertion=False, sign_response=True, attacker=True)
    assert_refused(app, federation, encode(forged), request, "invalid_signature")
    request = federation.start()
    unsigned_response = idp.signed(request, sign_assertion=True, sign_response=False)
    assert_refused(app, federation, encode(unsigned_response), request, "no_signed_message")


def test_sha1_signatures_only_when_allowed(saml_app, idp):
    strict = saml_app()
    federation = Federation(strict)
    request = federation.start()
    assert_refused(strict, federation, encode(idp.signed(request, sha1=True)), request,
                   "deprecated_signature_method")
    relaxed = saml_app(allow_sha1=True)
    migrate_alice(relaxed, idp, sha1=True)
    assert len(snapshot(relaxed)[0]) == 1


def test_subject_attribute_replaces_a_transient_name_id(saml_app, idp):
    attributes = {"urn:oid:0.9.2342.19200300.100.1.1": (None, ["alice"]),
                  "urn:oid:0.9.2342.19200300.100.1.3": (None, ["alice@example.com"])}
    app = saml_app(subject_attribute="uid")
    migrate_alice(app, idp, name_id=new_id(), name_id_format=Saml.NAMEID_TRANSIENT,
                  attributes=attributes)
    migrate_alice(app, idp, name_id=new_id(), name_id_format=Saml.NAMEID_TRANSIENT,
                  attributes=attributes)
    users, links = snapshot(app)
    assert [u["email"] for u in users] == ["alice@example.com"]
    assert [link["subject"] for link in links] == ["alice"]


def test_a_transient_name_id_without_subject_attribute_is_an_operator_problem(app, idp):
    federation = Federation(app)
    request = federation.start()
    _callback, page = federation.answer(
        encode(idp.signed(request, name_id=new_id(), name_id_format=Saml.NAMEID_TRANSIENT)),
        request.relay_state)
    assert UNAVAILABLE in page_text(page)
    assert "transient NameID" in audit(app, "legacy.unavailable")[-1]["reason"]
    assert snapshot(app) == ([], [])


# -- what the IdP refused --------------------------------------------------------------------


@pytest.mark.parametrize("second", [
    "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
    "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
    None,
])
def test_a_non_success_status_is_a_refusal(app, idp, second):
    federation = Federation(app)
    request = federation.start()
    refusal = idp.response(request, status=Saml.STATUS_RESPONDER, second_status=second)
    _callback, page = federation.answer(encode(refusal), request.relay_state)
    assert REFUSED in page_text(page)
    assert current_step(federation.walker) == "collect"
    assert len(audit(app, "federation.refused")) == 1
    assert audit(app, "federation.rejected") == []
    assert snapshot(app) == ([], [])


def test_a_status_blaming_ferrys_request_is_unavailable(app, idp):
    federation = Federation(app)
    request = federation.start()
    refusal = idp.response(request, status=Saml.STATUS_REQUESTER,
                           second_status="urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy")
    _callback, page = federation.answer(encode(refusal), request.relay_state)
    assert UNAVAILABLE in page_text(page)
    assert "InvalidNameIDPolicy" in audit(app, "legacy.unavailable")[-1]["reason"]
    assert snapshot(app) == ([], [])


# -- the hostile corpus ----------------------------------------------------------------------

#: name -> (builder(idp, request) -> SAMLResponse, reasons any of which the audit must give)
CORPUS = {
    "unsigned": (lambda idp, r: encode(idp.response(r, idp.assertion(r))),
                 ("no_signed_assertion",)),
    "assertion-signed-by-another-key": (lambda idp, r: encode(idp.signed(r, attacker=True)),
                                        ("invalid_signature",)),
    "genuine-assertion-in-a-response-signed-by-another-key": (
        lambda idp, r: encode(idp.sign(idp.signed(r), attacker=True)), ("invalid_signature",)),
    "only-the-response-signed-but-assertion-signature-required": (
        lambda idp, r: encode(idp.signed(r, sign_assertion=False, sign_response=True)),
        ("no_signed_assertion",)),
    "billion-laughs": (lambda idp, r: with_doctype(idp, r, BILLION_LAUGHS, "&lol9;"), ("DTD",)),
    "external-entity": (lambda idp, r: with_doctype(idp, r, EXTERNAL_ENTITY, "&xxe;"), ("DTD",)),
    "another-audience": (lambda idp, r: encode(idp.signed(r, audience="https://other-sp.example/")),
                         ("wrong_audience",)),
    "no-audience": (lambda idp, r: encode(_without_audience(idp, r)), ("wrong_audience",)),
    "another-destination": (
        lambda idp, r: encode(idp.signed(r, response={"destination": "https://other-sp.example/acs"})),
        ("wrong_destination",)),
    "destination-with-acs-as-prefix": (
        lambda idp, r: encode(idp.signed(r, response={"destination": r.acs + "-evil"})),
        ("wrong_destination",)),
    "signed-response-without-destination": (
        lambda idp, r: encode(idp.signed(r, sign_response=True, response={"destination": ""})),
        ("wrong_destination",)),
    "another-recipient": (lambda idp, r: encode(idp.signed(r, recipient="https://other-sp.example/acs")),
                          ("wrong_subjectconfirmation",)),
    "recipient-containing-the-acs": (
        lambda idp, r: encode(idp.signed(r, recipient="https://evil.example/?" + r.acs)),
        ("wrong_subjectconfirmation",)),
    "expired-beyond-the-skew": (lambda idp, r: encode(idp.signed(r, not_on_or_after=-600)),
                                ("assertion_expired",)),
    "subject-confirmation-expired": (lambda idp, r: encode(idp.signed(r, confirmation_expires=-600)),
                                     ("wrong_subjectconfirmation",)),
    "not-yet-valid-beyond-the-skew": (lambda idp, r: encode(idp.signed(r, not_before=900)),
                                      ("assertion_too_early",)),
    "in-response-to-another-request": (
        lambda idp, r: encode(idp.signed(r, in_response_to="ONELOGIN_other",
                                         response={"in_response_to": "ONELOGIN_other"})),
        ("wrong_inresponseto",)),
    "confirmation-for-another-request": (
        lambda idp, r: encode(idp.signed(r, in_response_to="ONELOGIN_other")),
        ("wrong_subjectconfirmation",)),
    "unsolicited": (lambda idp, r: encode(idp.signed(r, response={"in_response_to": ""})),
                    ("wrong_inresponseto",)),
    "another-issuer": (lambda idp, r: encode(idp.signed(r, issuer="https://evil.example/idp",
                                                        response={"issuer": "https://evil.example/idp"})),
                       ("wrong_issuer",)),
    "comment-in-name-id": (
        lambda idp, r: comment_in_name_id(idp, r, "alice@example.com.evil.com",
                                          "alice@example.com<!---->.evil.com"),
        ("comment",)),
    "not-base64": (lambda idp, r: "%%% not base64 %%%", ("not base64",)),
    "not-xml": (lambda idp, r: encode(b"<samlp:Response"), ("not well-formed",)),
    "not-a-response": (lambda idp, r: encode(b'<samlp:AuthnRequest xmlns:samlp="' + Saml.NS_SAMLP.encode()
                                             + b'" ID="x" Version="2.0"/>'), ("not a SAML Response",)),
    "empty": (lambda idp, r: "", ("no SAMLResponse",)),
}


def _without_audience(idp: CorpusIdp, request: Request):
    assertion = idp.assertion(request)
    conditions = assertion.find(f"{{{Saml.NS_SAML}}}Conditions")
    conditions.remove(conditions[0])
    return idp.response(request, idp.sign(assertion))


@pytest.mark.parametrize("case", list(CORPUS))
def test_hostile_answers_are_refused(app, idp, case):
    build, reasons = CORPUS[case]
    federation = Federation(app)
    request = federation.start()
    assert_refused(app, federation, build(idp, request), request, *reasons)


@pytest.mark.parametrize("variant", [
    "evil-assertion-before-signed", "evil-assertion-after-signed",
    "signed-assertion-in-extensions", "signed-assertion-in-signature-object",
    "evil-assertion-with-copied-signature", "signed-response-wrapped-in-evil-response",
    "signed-assertion-in-evil-advice",
])
def test_signature_wrapping_is_refused(app, idp, variant):
    federation = Federation(app)
    request = federation.start()
    assert_refused(app, federation, wrapping_variants(idp, request)[variant], request,
                   "wrong_number_of_assertions", "invalid_signed_element", "invalid_signature",
                   "invalid_xml_format", "duplicated", "wrong_signed_element")


def test_comment_in_name_id_never_reads_as_the_victim(app, idp):
    """Alice migrated with an e-mail NameID; a comment must not turn the attacker into her."""
    migrate_alice(app, idp, name_id="alice@example.com", name_id_format=Saml.NAMEID_EMAIL_ADDRESS)
    federation = Federation(app)
    request = federation.start()
    assert_refused(app, federation,
                   comment_in_name_id(idp, request, "alice@example.com.evil.com",
                                      "alice@example.com<!---->.evil.com"),
                   request, "comment")
    # And python3-saml itself reads the whole text, should a comment ever get through.
    node = OneLogin_Saml2_XML.to_etree(b"<n>alice@example.com<!---->.evil.com</n>")
    assert OneLogin_Saml2_XML.element_text(node) == "alice@example.com.evil.com"


def test_a_replayed_assertion_is_refused_even_with_a_fresh_sign_in(app, idp):
    first = Federation(app)
    request = first.start()
    assertion_id = new_id()
    original = encode(idp.signed(request, assertion_id=assertion_id))
    first.answer(original, request.relay_state)
    users = snapshot(app)

    # The very same response through a fresh run: bound to the first run's request.
    second = Federation(app)
    fresh = second.start()
    assert_refused(app, second, original, fresh, "wrong_inresponseto")

    # The same assertion id re-signed for the fresh request (what a replay cache is for).
    third = Federation(app)
    fresh = third.start()
    assert_refused(app, third, encode(idp.signed(fresh, assertion_id=assertion_id)), fresh,
                   "replayed assertion")
    assert snapshot(app) == users


def test_an_answer_resumes_its_run_once(app, idp):
    federation = Federation(app)
    request = federation.start()
    response = encode(idp.signed(request))
    callback, page = federation.answer(response, request.relay_state)
    assert page.status_code in (302, 303)
    again, _page = federation.answer(response, request.relay_state)
    assert again.status_code == 400  # the reference is spent: no run to resume
    unknown, _page = federation.answer(response, "made-up-relay-state")
    assert unknown.status_code == 400
    assert len(snapshot(app)[0]) == 1


# -- the replay cache across servers ---------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The Redis on 127.0.0.1:6379 if it answers, else a throwaway redis-server."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        yield "redis://127.0.0.1:6379/0"
        return
    except OSError:
        pass
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_replay_cache_is_shared_by_servers_on_redis(make_app, idp, redis_url, tmp_path):
    """Two Ferry servers on one database and one Redis: an assertion works on one of them."""
    table = {"type": "saml", "display_name": "Corp SSO", "idp_metadata_xml": idp.metadata()}
    url = f"sqlite:///{tmp_path}/shared.db"
    one = make_app(database_url=url, RATELIMIT_STORAGE_URI=redis_url, DEPLOYMENT=saml_deployment(table))
    two = make_app(database_url=url, RATELIMIT_STORAGE_URI=redis_url, DEPLOYMENT=saml_deployment(table))
    assertion_id = new_id()
    first = Federation(one)
    request = first.start()
    _callback, page = first.answer(encode(idp.signed(request, assertion_id=assertion_id)),
                                   request.relay_state)
    assert page.status_code in (302, 303)
    second = Federation(two)
    request = second.start()
    assert_refused(two, second, encode(idp.signed(request, assertion_id=assertion_id)), request,
                   "replayed assertion")


# -- claims ----------------------------------------------------------------------------------


def test_claims_reach_oid_and_claim_uri_attributes():
    claims = build_claims(
        name_id={"Value": "p-1", "Format": Saml.NAMEID_PERSISTENT}, session_index="s-1",
        authn_contexts=["urn:ctx"], issuer="urn:idp",
        attributes={
            "urn:oid:0.9.2342.19200300.100.1.3": ["alice@example.com"],
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ["Alice"],
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": ["Liddell"],
            "http://schemas.microsoft.com/identity/claims/displayname": ["Alice L."],
            "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ["member", "staff"],
            "urn:oid:2.16.840.1.113730.3.1.3": ["E-42"],
            "name_id": ["an attribute may not overwrite the subject"],
        },
        friendly_names={"urn:oid:2.16.840.1.113730.3.1.3": "employeeNumber"},
        aliases={"employee_id": "urn:oid:2.16.840.1.113730.3.1.3", "team": "urn:oid:9.9"},
    )
    assert claims["name_id"] == "p-1" and claims["session_index"] == "s-1"
    assert claims["issuer"] == "urn:idp" and claims["authn_context"] == "urn:ctx"
    # Standard claims for the default mapping, from OIDs and AD FS / Entra ID claim URIs.
    assert (claims["email"], claims["given_name"], claims["family_name"], claims["name"]) == (
        "alice@example.com", "Alice", "Liddell", "Alice L.")
    # Every attribute under its full and its friendly name; several values stay a list.
    assert claims["urn:oid:0.9.2342.19200300.100.1.3"] == claims["mail"] == "alice@example.com"
    assert claims["eduPersonAffiliation"] == ["member", "staff"]
    assert claims["givenname"] == "Alice"
    assert claims["employeeNumber"] == claims["employee_id"] == "E-42"
    assert "team" not in claims  # an alias of an absent attribute is absent


def test_an_email_name_id_gives_the_email_when_no_attribute_does():
    claims = build_claims(name_id={"Value": "bob@example.com", "Format": Saml.NAMEID_EMAIL_ADDRESS},
                          session_index=None, authn_contexts=[], issuer="urn:idp", attributes={},
                          friendly_names={}, aliases={})
    assert claims["email"] == "bob@example.com"


def test_mapping_reads_aliases_of_dotted_attribute_names(saml_app, idp):
    app = saml_app(attribute_aliases={"affiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"},
                   mapping={"email": "email", "affiliation": "affiliation"})
    migrate_alice(app, idp)
    users, _links = snapshot(app)
    assert users[0]["email"] == "alice@example.com"
    assert users[0]["attributes"] == {"affiliation": ["member", "staff"]}


def test_python3_saml_itself_refuses_dtds_behind_ferrys_own_check():
    """Defence in depth: python3-saml's parser (defusedxml's rules) refuses what Ferry refuses."""
    for document in (EXTERNAL_ENTITY + "<r>&xxe;</r>", "<!DOCTYPE r><r/>"):
        with pytest.raises(DTDForbidden):
            OneLogin_Saml2_XML.to_etree(document.encode())
    with pytest.raises((DTDForbidden, etree.XMLSyntaxError)):  # libxml2 stops the bomb itself
        OneLogin_Saml2_XML.to_etree((BILLION_LAUGHS + "<r>&lol9;</r>").encode())


# -- IdP metadata from a URL -----------------------------------------------------------------


class MetadataServer:
    """Serves the corpus IdP's metadata on loopback, counting fetches; it can fail or stall."""

    def __init__(self, idp: CorpusIdp) -> None:
        self.idp = idp
        self.fetches = 0
        self.mode = "up"  # "up", "error" (503) or "stall" (answers after the read timeout)
        self.server = make_server("127.0.0.1", 0, self._serve, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/saml/metadata"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _serve(self, environ, start_response):
        self.fetches += 1
        if self.mode == "stall":
            time.sleep(1.5)
        if self.mode == "error":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down for maintenance"]
        start_response("200 OK", [("Content-Type", "application/samlmetadata+xml")])
        return [self.idp.metadata().encode()]

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def metadata_server(idp) -> Iterator[MetadataServer]:
    server = MetadataServer(idp)
    yield server
    server.stop()


@pytest.fixture
def url_app(saml_app, metadata_server):
    return saml_app(idp_metadata_url=metadata_server.url, connect_timeout=1, read_timeout=0.5)


def idp_source(app):
    return app.extensions["ferry.connectors"][CONNECTOR].idp


def test_metadata_url_is_fetched_when_needed_and_cached(url_app, idp, metadata_server):
    assert metadata_server.fetches == 0  # not at start-up: Ferry starts while the IdP is down
    migrate_alice(url_app, idp)
    migrate_alice(url_app, idp)
    assert metadata_server.fetches == 1
    idp_source(url_app)._fetched_at -= 3600  # idp_metadata_max_age has passed
    migrate_alice(url_app, idp)
    assert metadata_server.fetches == 2


@pytest.mark.parametrize("mode, reason", [("error", "answered 503"), ("stall", "timed out")])
def test_unusable_metadata_means_unavailable(url_app, metadata_server, mode, reason):
    metadata_server.mode = mode
    federation = Federation(url_app)
    assert federation.walker.authorize().status_code == 302
    federation.walker.open()
    page = federation.walker.post(federate=CONNECTOR)
    assert UNAVAILABLE in page_text(page)
    assert reason in audit(url_app, "legacy.unavailable")[-1]["reason"]
    assert snapshot(url_app) == ([], [])
    # Ferry's own SP metadata does not depend on the IdP's.
    assert url_app.test_client().get(f"/federate/{CONNECTOR}/metadata").status_code == 200


def test_metadata_url_refused_connection_is_unavailable(saml_app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    app = saml_app(idp_metadata_url=f"http://127.0.0.1:{port}/metadata", connect_timeout=1)
    federation = Federation(app)
    federation.walker.authorize()
    federation.walker.open()
    assert UNAVAILABLE in page_text(federation.walker.post(federate=CONNECTOR))
    assert "could not connect" in audit(app, "legacy.unavailable")[-1]["reason"]


def test_a_failed_refresh_keeps_the_metadata_known(url_app, idp, metadata_server, caplog):
    migrate_alice(url_app, idp)
    metadata_server.mode = "error"
    idp_source(url_app)._fetched_at -= 3600
    with caplog.at_level(logging.WARNING, logger="connectors.saml_settings"):
        migrate_alice(url_app, idp)
    assert metadata_server.fetches == 2
    assert "keeping the IdP metadata already known" in caplog.text


def test_an_idp_key_rollover_is_picked_up_from_its_metadata(url_app, idp, metadata_server,
                                                            monkeypatch):
    migrate_alice(url_app, idp)
    idp.keys = signing_pair("corpus IdP, next key")  # the metadata URL now names the new key
    federation = Federation(url_app)
    request = federation.start()
    # Metadata fetched moments ago is not fetched again for every bad signature...
    assert_refused(url_app, federation, encode(idp.signed(request)), request, "invalid_signature")
    assert metadata_server.fetches == 1
    # ...but once it is old enough, a signature Ferry cannot verify triggers one refetch.
    monkeypatch.setattr(connectors.saml, "_REFETCH_AFTER", 0.0)
    migrate_alice(url_app, idp)
    assert metadata_server.fetches == 2
