"""The ``saml`` connector's IdP metadata from a URL (fetched when needed, cached, refreshed, a
key rollover), and which NameIDs and audiences it takes as the subject."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from werkzeug.serving import make_server

import connectors.saml
from tests.connectors.conftest import page_text
from tests.connectors.saml.flow import (
    UNAVAILABLE,
    Federation,
    assert_refused,
    audit,
    migrate_alice,
    snapshot,
)
from tests.connectors.saml_corpus import (
    CONNECTOR,
    CorpusIdp,
    encode,
    signing_pair,
)

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
    federation.walker.start()
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
    federation.walker.start()
    assert UNAVAILABLE in page_text(federation.walker.post(federate=CONNECTOR))
    assert "could not connect" in audit(app, "legacy.unavailable")[-1]["reason"]


def test_a_failed_refresh_keeps_the_metadata_known(url_app, idp, metadata_server, caplog):
    migrate_alice(url_app, idp)
    metadata_server.mode = "error"
    idp_source(url_app)._fetched_at -= 3600
    with caplog.at_level(logging.WARNING, logger="connectors.saml.settings"):
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


def test_a_name_id_of_another_format_is_not_taken_as_the_subject(app, idp, caplog):
    """A persistent id was asked for: an e-mail NameID (it may change) links nobody."""
    federation = Federation(app)
    request = federation.start()
    users = snapshot(app)
    _callback, page = federation.answer(encode(idp.signed(
        request, name_id="alice@example.com", name_id_format=Saml.NAMEID_EMAIL_ADDRESS)),
        request.relay_state)
    assert page.status_code == 200 and snapshot(app) == users
    assert "NameID of format 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'" in caplog.text


def test_a_listed_name_id_format_is_accepted_and_logged(saml_app, idp, caplog):
    app = saml_app(accept_name_id_formats=["email"])
    migrate_alice(app, idp, name_id="alice@example.com", name_id_format=Saml.NAMEID_EMAIL_ADDRESS)
    assert "taken as the subject (accepted by accept_name_id_formats" in caplog.text


def test_a_wrong_audience_is_logged_with_the_audience_received(app, idp, caplog):
    federation = Federation(app)
    request = federation.start()
    assert_refused(app, federation, encode(idp.signed(request, audience="https://other.example/sp")),
                   request, "wrong_audience")
    assert "the assertion is for 'https://other.example/sp', not for this SP" in caplog.text
