"""The ``saml`` connector without a browser: settings, SP metadata, the AuthnRequest, the ACS.

Every answer is posted to Ferry's ACS with the Flask test client after a real journey run
started it (so the RelayState and the request id are the run's), exactly as a browser would
after the IdP's auto-submitting form. The hostile corpus (``saml_corpus``) must each be refused
with a clear page, audited as ``federation.rejected`` with a reason, and leave every user and
legacy link as it was.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from models import JourneyRun, db
from settings.errors import ConfigError
from tests.connectors.conftest import current_step, page_text
from tests.connectors.saml.flow import (
    ACS,
    REFUSED,
    SP_ENTITY_ID,
    UNAVAILABLE,
    Federation,
    assert_refused,
    audit,
    migrate_alice,
    snapshot,
)
from tests.connectors.saml_corpus import (
    CONNECTOR,
    encode,
    new_id,
    saml_deployment,
    signing_pair,
)

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
