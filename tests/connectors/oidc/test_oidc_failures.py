"""The ``oidc`` connector when the sign-in is refused at the IdP or the IdP is down: cancelling,
error answers, a stopped or failing token endpoint, an unreachable IdP, discovery documents that
cannot be used. Every case must give a clear page and change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.connectors.conftest import page_text
from tests.connectors.oidc.flow import (
    ACCOUNTS,
    CALLBACK,
    PROVIDER,
    REFUSED,
    UNAVAILABLE,
    Browser,
    audit,
    ferry,
    peer_connector,
    rejection_reasons,
    scripted_connector,
    users,
)
from tests.connectors.scripted_idp import Reply, closed_port_url
from tests.peers.oidc_provider import OidcProviderPeer


# -- refused at the IdP, or the IdP down: clear pages, nothing changed --------------------------
def test_cancelling_at_the_idp_is_a_refusal(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK, cancel=True)
    assert dict(parse_qsl(urlsplit(answer.url).query))["error"] == "access_denied"

    page = browser.back_and_on(answer)
    assert page.status_code == 200 and REFUSED in page_text(page)
    assert f"Continue with {PROVIDER}" in page_text(page)  # back on the sign-in page
    assert users(app) == [] and len(audit(app, "federation.refused")) == 1


@pytest.mark.parametrize("error", ["server_error", "temporarily_unavailable", "invalid_scope"])
def test_error_answers_that_are_no_refusal_mean_try_again_later(make_app, scripted, error):
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    params = scripted.authorize(browser.to_provider())
    page = browser.back_and_on({"error": error, "state": params["state"], "iss": params["iss"]})
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == [] and error in audit(app, "legacy.unavailable")[-1].details["reason"]


def test_error_answers_relayed_by_browsers_never_open_the_circuit_breaker(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, breaker_failures=1))
    for _attempt in range(2):
        browser = Browser(app)
        params = scripted.authorize(browser.to_provider())  # still sent to the IdP: not open
        page = browser.back_and_on({"error": "server_error", "state": params["state"],
                                    "iss": params["iss"]})
        assert UNAVAILABLE in page_text(page)
    # A real outage of the token endpoint (Ferry's own call) does open it.
    scripted.http.routes["/token"] = Reply(503, "down", "text/plain")
    browser = Browser(app)
    browser.back_and_on(scripted.authorize(browser.to_provider()))
    browser = Browser(app)
    browser.walker.start()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert "circuit breaker open" in audit(app, "legacy.unavailable")[-1].details["reason"]


def test_a_small_clock_skew_is_tolerated(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, clock_skew=60))
    now = int(time.time())
    scripted.id_token_claims.update(iat=now + 30, exp=now - 30)  # the IdP's clock is behind
    browser = Browser(app)
    done = browser.back_and_on(scripted.authorize(browser.to_provider()))
    assert browser.app_id_token(done)["email"] == "alice@example.com"


def test_token_endpoint_down_after_the_user_left(make_app, make_peer):
    peer = make_peer()
    app = ferry(make_app, peer_connector(peer))
    browser = Browser(app)
    answer = peer.sign_in(browser.to_provider(), "alice", CALLBACK)
    peer.stop()  # the IdP goes down while the browser is on its way back

    page = browser.back_and_on(answer)
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == []
    assert "could not connect" in audit(app, "legacy.unavailable")[-1].details["reason"]


@pytest.fixture
def make_peer() -> Iterator[Callable[[], OidcProviderPeer]]:
    """A peer of the test's own, for tests that stop it."""
    started: list[OidcProviderPeer] = []

    def start() -> OidcProviderPeer:
        started.append(OidcProviderPeer(ACCOUNTS).start())
        return started[-1]

    yield start
    for peer in started:
        peer.close()


@pytest.mark.parametrize("failure", ["closed port", "HTTP 502", "garbage", "no id_token"])
def test_token_endpoint_failing_means_try_again_later(make_app, scripted, failure):
    if failure == "closed port":
        scripted.discovery_overrides["token_endpoint"] = closed_port_url()
    elif failure == "HTTP 502":
        scripted.http.routes["/token"] = Reply(502, "<h1>Bad gateway</h1>", "text/html")
    elif failure == "garbage":
        scripted.http.routes["/token"] = Reply(200, "not json", "text/plain")
    else:
        scripted.http.routes["/token"] = Reply(200, {"access_token": "x", "token_type": "Bearer"})
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    page = browser.back_and_on(scripted.authorize(browser.to_provider()))
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == [] and rejection_reasons(app) == []
    assert len(audit(app, "legacy.unavailable")) == 1


def test_the_idp_unreachable_before_leaving_means_try_again_later(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted, issuer=closed_port_url("")))
    browser = Browser(app)
    browser.walker.start()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert users(app) == []


def test_a_discovery_document_of_another_issuer_is_not_used(make_app, scripted, caplog):
    scripted.discovery_overrides["issuer"] = "https://impostor.example"
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    browser.walker.start()
    page = browser.walker.post(federate="corp")
    assert page.status_code == 200 and UNAVAILABLE in page_text(page)
    assert "names another issuer" in audit(app, "legacy.unavailable")[-1].details["reason"]
    assert "impostor.example" in caplog.text  # told to the operator
    assert scripted.calls("/token") == []


def test_discovery_endpoints_must_be_https(make_app, scripted):
    scripted.discovery_overrides["token_endpoint"] = "http://idp.example/token"
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    browser.walker.start()
    page = browser.walker.post(federate="corp")
    assert UNAVAILABLE in page_text(page)
    assert "token_endpoint" in audit(app, "legacy.unavailable")[-1].details["reason"]
