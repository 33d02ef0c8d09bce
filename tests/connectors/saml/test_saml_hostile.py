"""The ``saml`` connector against hostile answers: the corpus (signature wrapping, comments in
the NameID, DTDs, replays), the replay cache shared by servers, and how claims are read."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from onelogin.saml2.xmlparser import DTDForbidden

from connectors.saml.claims import build_claims
from tests.connectors.saml.flow import (
    Federation,
    assert_refused,
    migrate_alice,
    snapshot,
)
from tests.connectors.saml_corpus import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    CorpusIdp,
    Request,
    comment_in_name_id,
    encode,
    new_id,
    saml_deployment,
    with_doctype,
    wrapping_variants,
)

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


def test_comment_in_name_id_never_reads_as_the_victim(saml_app, idp):
    """Alice migrated with an e-mail NameID; a comment must not turn the attacker into her."""
    app = saml_app(name_id_format="email")
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
