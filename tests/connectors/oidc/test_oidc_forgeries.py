"""The ``oidc`` connector against forged, replayed or mixed-up answers, from the real IdP (wrong
state, replay, mix-up, a missing iss) and from a scripted provider whose token endpoint serves the
negative corpus of forged ID tokens. Every refused answer must give a clear page, an audit event
with its reason, and no user created or changed."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from tests.accounts import create_local_user
from tests.connectors.conftest import page_text
from tests.connectors.oidc.flow import (
    CALLBACK,
    EXPIRED,
    PROVIDER,
    REJECTED,
    Browser,
    audit,
    ferry,
    peer_connector,
    rejection_reasons,
    scripted_connector,
    snapshot,
    users,
)
from tests.peers.oidc_scripted import DROP, ScriptedOidcProvider


# -- forged, replayed or mixed-up answers: refused, audited, nothing changed ---------------------
def test_a_wrong_state_is_refused_and_the_real_sign_in_still_works(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))

    forged = browser.back({**query, "state": secrets.token_urlsafe(32)})
    assert forged.status_code == 400 and EXPIRED in page_text(forged)
    missing = browser.back({k: v for k, v in query.items() if k != "state"})
    assert missing.status_code == 400 and EXPIRED in page_text(missing)
    assert users(app) == [] and audit(app, "legacy.verified") == []
    assert rejection_reasons(app) == ["unknown, expired or already used state"] * 2

    browser.app_id_token(browser.back_and_on(answer))  # the genuine answer is still good
    assert [u.email for u in users(app)] == ["alice@example.com"]


def test_a_replayed_answer_is_refused(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    browser.app_id_token(browser.back_and_on(answer))
    before = snapshot(app)

    for replayer in (browser, Browser(app)):  # the same browser, and an attacker's
        replay = replayer.back(answer)
        assert replay.status_code == 400 and EXPIRED in page_text(replay)
    assert snapshot(app) == before
    assert rejection_reasons(app) == ["unknown, expired or already used state"] * 2
    assert len(audit(app, "legacy.verified")) == 1


def test_an_answer_from_another_issuer_is_refused(make_app, oidc_provider, scripted):
    """Mix-up: the answer names another IdP (here one Ferry also trusts)."""
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))

    page = browser.back_and_on({**query, "iss": scripted.issuer})
    assert page.status_code == 200 and REJECTED in page_text(page)
    assert rejection_reasons(app) == ["the answer comes from another issuer (iss parameter)"]
    assert users(app) == [] and audit(app, "legacy.verified") == []


def test_an_answer_without_the_promised_iss_is_refused(make_app, oidc_provider):
    app = ferry(make_app, peer_connector(oidc_provider))
    browser = Browser(app)
    answer = oidc_provider.sign_in(browser.to_provider(), "alice", CALLBACK)
    query = dict(parse_qsl(urlsplit(answer.url).query))
    assert oidc_provider.discovery()["authorization_response_iss_parameter_supported"] is True

    page = browser.back_and_on({k: v for k, v in query.items() if k != "iss"})
    assert REJECTED in page_text(page)
    assert rejection_reasons(app) == ["the answer lacks the iss parameter this IdP always sends"]
    assert users(app) == []


def _none_signed(idp: ScriptedOidcProvider) -> None:
    """An unsigned token (``alg: none``), built by hand since no JOSE library makes one."""
    original = idp.id_token

    def unsigned(grant, access_token=None):
        claims = jwt.decode(original(grant, access_token), idp.key).claims
        encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")  # noqa: E731
        return (encode({"alg": "none", "typ": "JWT"}) + b"." + encode(claims) + b".").decode()

    idp.id_token = unsigned


def _hs256_with_client_secret(idp: ScriptedOidcProvider) -> None:
    idp.alg, idp.sign_with = "HS256", OctKey.import_key(idp.client_secret)
    idp.header = {"kid": None}


def _forger_key(kid: str) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        idp.sign_with = RSAKey.generate_key(2048, parameters={"kid": kid})
    return forge


def _no_kid_among_several_keys(idp: ScriptedOidcProvider) -> None:
    idp.published = [idp.key, RSAKey.generate_key(2048, parameters={"kid": "scripted-2"})]
    idp.header = {"kid": None}


def _claims(**claims) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        now = int(time.time())
        idp.id_token_claims.update({k: (v(now) if callable(v) else v) for k, v in claims.items()})
    return forge


def _userinfo(**claims) -> Callable[[ScriptedOidcProvider], None]:
    def forge(idp: ScriptedOidcProvider) -> None:
        idp.userinfo_claims.update(claims)
    return forge


#: (name, what the forger does to the IdP's token, what to do to the answer, audited reason)
FORGERIES = [
    ("wrong nonce", _claims(nonce="the-nonce-of-another-sign-in"), None,
     "the ID token's 'nonce' claim is wrong"),
    ("no nonce", _claims(nonce=DROP), None, "the ID token lacks the 'nonce' claim"),
    ("another audience", _claims(aud="another-client"), None, "the ID token's 'aud' claim is wrong"),
    ("several audiences, no azp", _claims(aud=["ferry-scripted", "another-client"]), None,
     "the ID token lacks the 'azp' claim"),
    ("azp of another client", _claims(aud=["ferry-scripted", "x"], azp="x"), None,
     "the ID token's 'azp' claim is wrong"),
    ("expired", _claims(iat=lambda now: now - 7200, exp=lambda now: now - 3600), None,
     "the ID token has expired"),
    ("issued in the future", _claims(iat=lambda now: now + 3600, exp=lambda now: now + 7200), None,
     "the ID token's 'iat' claim is wrong"),
    ("no expiry", _claims(exp=DROP), None, "the ID token lacks the 'exp' claim"),
    ("another issuer in the token", _claims(iss="https://other-idp.example"), None,
     "the ID token's 'iss' claim is wrong"),
    ("access token hash of another token", _claims(at_hash="bm90IHRoZSBoYXNo"), None,
     "the ID token's 'at_hash' claim is wrong"),
    ("signed by another key under a known kid", _forger_key("scripted-1"), None,
     "the ID token's signature does not verify"),
    ("signed by an unknown key", _forger_key("forger-1"), None,
     "the ID token is signed by a key the IdP does not publish"),
    ("no kid although the IdP has several keys", _no_kid_among_several_keys, None,
     "the ID token names no key (kid) of the several the IdP publishes"),
    ("unsigned (alg none)", _none_signed, None,
     "the ID token is signed with 'none', not an accepted algorithm"),
    ("HS256 with the client secret", _hs256_with_client_secret, None,
     "the ID token is signed with 'HS256', not an accepted algorithm"),
    ("userinfo about someone else", _userinfo(sub="mallory"), None,
     "userinfo describes another subject than the ID token"),
    ("a code the IdP never issued", None, lambda p: {**p, "code": "made-up-code"},
     "the token endpoint refused the code (invalid_grant)"),
    ("mixed-up issuer", None, lambda p: {**p, "iss": "https://other-idp.example"},
     "the answer comes from another issuer (iss parameter)"),
    ("no code, no error", None, lambda p: {k: v for k, v in p.items() if k != "code"},
     "the answer carries neither a code nor an error"),
]


@pytest.mark.parametrize(("forge", "tamper", "reason"), [f[1:] for f in FORGERIES],
                         ids=[f[0] for f in FORGERIES])
def test_forged_answers_are_refused_audited_and_change_nothing(make_app, scripted, forge, tamper,
                                                                reason):
    app = ferry(make_app, scripted_connector(scripted))
    create_local_user(app, "someone@example.com", "a password")  # the forger must not touch it
    before = snapshot(app)
    if forge:
        forge(scripted)
    browser = Browser(app)
    params = scripted.authorize(browser.to_provider())
    page = browser.back_and_on(tamper(params) if tamper else params)

    assert page.status_code == 200 and REJECTED in page_text(page)
    assert f"Continue with {PROVIDER}" in page_text(page)  # back on the sign-in page
    assert rejection_reasons(app) == [reason]
    assert snapshot(app) == before
    assert audit(app, "legacy.verified") == [] and audit(app, "user.migrated") == []


def test_an_unknown_kid_refetches_the_keys_once_not_for_every_forgery(make_app, scripted):
    app = ferry(make_app, scripted_connector(scripted))
    _forger_key("forger-1")(scripted)
    for _attempt in range(3):
        browser = Browser(app)
        page = browser.back_and_on(scripted.authorize(browser.to_provider()))
        assert REJECTED in page_text(page)
    assert len(scripted.calls("/jwks")) == 2  # the first fetch, and one more for the unknown kid
