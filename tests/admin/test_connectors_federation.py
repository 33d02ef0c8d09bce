"""Portal: the integration hub's redirect connectors. A SAML IdP's metadata, served by real IdPs
(pysaml2's ``saml2.server.Server`` and Debian's simplesamlphp), read into the ``saml`` form by
python3-saml's parser, then saved, with the link to Ferry's SP metadata; metadata that is no
use refused at the upload. An OpenID Provider's discovery document fetched from a real provider
(the npm ``oidc-provider``) and from a scripted one; a plain http issuer refused."""

from __future__ import annotations

import base64
import html
import io
import re

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from models import db
from store import objects
from tests.admin.conftest import csrf
from tests.connectors.saml_corpus import CorpusIdp
from tests.journeys.selfservice import text
from tests.peers.oidc_provider import OidcProviderPeer
from tests.peers.pysaml2_idp import Pysaml2Idp
from tests.peers.simplesamlphp import SimpleSamlPhp


def upload(client, document: bytes, *, read: bool, name: str = "corp-saml", **fields):
    data = {"csrf_token": csrf(client, "/admin/connectors"), "name": name,
            "idp_metadata_file": (io.BytesIO(document), "idp-metadata.xml"), **fields}
    if read:
        data["read_metadata"] = "1"
    return client.post("/admin/connectors/new/saml", data=data, content_type="multipart/form-data")


def field_value(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]*id="f-{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*id="f-{name}"', page)
    return html.unescape(found.group(1)) if found else ""


def textarea(page: str, name: str) -> str:
    found = re.search(rf'<textarea[^>]*id="f-{name}"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def der(pem: bytes | str) -> bytes:
    text = pem.decode() if isinstance(pem, bytes) else pem
    return x509.load_pem_x509_certificate(text.strip().encode()).public_bytes(
        serialization.Encoding.DER)


def stored(app, name):
    with app.test_request_context(), db.connection_context():
        row = objects.get("connectors", name)
        return objects.plain(row.data) if row else None


@pytest.mark.parametrize("peer", [Pysaml2Idp, SimpleSamlPhp], ids=["pysaml2", "simplesamlphp"])
def test_a_real_idps_metadata_fills_the_saml_form(portal_app, admin_client, peer):
    with peer() as idp:
        document = requests.get(idp.metadata_url, timeout=10).content
    read = upload(admin_client, document, read=True)
    page = read.get_data(as_text=True)
    assert read.status_code == 200 and "Read from the IdP&#39;s metadata" in page
    assert field_value(page, "idp_entity_id") == idp.entity_id
    assert field_value(page, "idp_sso_url").startswith(idp.url)
    assert der(textarea(page, "idp_cert")) == der(idp.cert_pem)
    assert stored(portal_app, "corp-saml") is None  # reading saves nothing

    saved = admin_client.post("/admin/connectors/new/saml", data={
        "csrf_token": csrf(admin_client, "/admin/connectors"), "name": "corp-saml",
        "idp_entity_id": field_value(page, "idp_entity_id"),
        "idp_sso_url": field_value(page, "idp_sso_url"),
        "idp_cert": textarea(page, "idp_cert"), "display_name": "Corp SSO"})
    assert saved.status_code == 303, text(saved)[:3000]
    data = stored(portal_app, "corp-saml")
    assert data["idp_entity_id"] == idp.entity_id and "idp_metadata_xml" not in data

    connector_page = admin_client.get("/admin/connectors/corp-saml").get_data(as_text=True)
    assert 'href="/federate/corp-saml/metadata"' in connector_page
    sp = portal_app.test_client().get("/federate/corp-saml/metadata")
    assert sp.status_code == 200 and sp.mimetype == "application/samlmetadata+xml"
    assert b"/federate/corp-saml/callback" in sp.data  # the ACS URL to give the IdP


def test_saving_with_the_file_attached_reads_it_too(portal_app, admin_client):
    corpus = CorpusIdp()
    made = upload(admin_client, corpus.metadata().encode(), read=False)
    assert made.status_code == 303, text(made)[:3000]
    data = stored(portal_app, "corp-saml")
    assert data["idp_entity_id"] == corpus.entity_id and data["idp_sso_url"] == corpus.sso_url
    body = "".join(corpus.keys[1].strip().splitlines()[1:-1])
    assert der(data["idp_cert"]) == base64.b64decode(body)
    assert data["name_id_format"] == "persistent"


@pytest.mark.parametrize(("document", "told"), [
    (b"this is not XML", "This is not readable XML"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">&e;'
     b"</md:EntityDescriptor>", "This is not readable XML"),
    (b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
     b"<md:SPSSODescriptor/></md:EntityDescriptor>", "describes no SAML IdP"),
    (CorpusIdp().metadata().replace("HTTP-Redirect", "HTTP-POST").encode(), "HTTP-Redirect"),
    (CorpusIdp().metadata().replace("<ds:X509Certificate>", "<ds:X509Certificate>x").encode(),
     "certificate in the metadata is not readable"),
], ids=["not-xml", "entities", "an-sp", "post-binding-only", "broken-certificate"])
def test_metadata_that_is_no_use_is_refused_at_the_upload(portal_app, admin_client, document,
                                                          told):
    refused = upload(admin_client, document, read=False)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    errors = re.search(r'id="idp_metadata_file-errors">(.*?)</ul>', page, re.S)
    assert errors and told in html.unescape(errors.group(1))
    assert stored(portal_app, "corp-saml") is None


def test_metadata_beyond_the_request_limit_is_refused(portal_app, admin_client):
    from werkzeug.datastructures import FileStorage

    from blueprints.admin import connectors_saml

    # The app refuses any request over [ferry] max_request_bytes (64 KiB by default)...
    over = upload(admin_client, b"<x>" + b" " * (64 * 1024) + b"</x>", read=True)
    assert over.status_code == 413 and stored(portal_app, "corp-saml") is None
    # ...and the portal reads 1 MiB at most, whatever that limit is raised to.
    with portal_app.test_request_context():
        big = connectors_saml.read(FileStorage(io.BytesIO(b" " * (1024 * 1024 + 1))))
    assert big.problem and "larger than 1 MiB" in big.problem


# -- OpenID Connect discovery ---------------------------------------------------------------
def discover(client, issuer: str):
    return client.post("/admin/connectors/discover", data={
        "issuer": issuer, "csrf_token": csrf(client, "/admin/connectors")})


def test_discovery_from_a_real_openid_provider(portal_app, admin_client):
    with OidcProviderPeer({"alice": {"email": "alice@example.com"}}) as provider:
        page = text(discover(admin_client, provider.issuer))
        assert "the oidc connector will accept it" in page
        assert provider.issuer + "/token" in page or "token_endpoint" in page
        assert "client_secret_basic" in page
        raw = discover(admin_client, provider.issuer).get_data(as_text=True)
        assert f'name="issuer" value="{provider.issuer}"' in raw
        assert 'name="client_auth" value="client_secret_basic"' in raw


def test_fetching_discovery_fills_the_oidc_form(portal_app, admin_client):
    from tests.connectors.scripted_idp import Reply, ScriptedIdp

    with ScriptedIdp() as idp:
        issuer = idp.base_url
        idp.routes["/.well-known/openid-configuration"] = lambda request: Reply(body={
            "issuer": issuer, "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks",
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"]})
        page = text(discover(admin_client, issuer))
        assert "the oidc connector will accept it" in page and issuer + "/token" in page
        other = text(discover(admin_client, issuer + "/"))
        assert "not exactly the URL given" in other
        wrong = text(discover(admin_client, issuer + "/other"))
        assert "answered 404" in wrong
        form = admin_client.post("/admin/connectors/new/oidc", data={
            "prefill": "1", "issuer": issuer, "client_auth": "client_secret_post",
            "csrf_token": csrf(admin_client, "/admin/connectors")}).get_data(as_text=True)
        assert field_value(form, "issuer") == issuer
        assert '<option selected value="client_secret_post">' in form
        assert stored(portal_app, "oidc") is None


@pytest.mark.parametrize("issuer", ["http://idp.example.com", "ftp://idp.example.com",
                                    "idp.example.com"])
def test_an_issuer_that_is_not_https_is_refused_before_any_request(portal_app, admin_client,
                                                                    issuer):
    assert "An issuer is an https URL" in text(discover(admin_client, issuer))
