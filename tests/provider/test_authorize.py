"""``/authorize`` as apps use it: prompt values, max_age, hints, acr, unsupported parameters,
and every error answered with ``state`` and ``iss`` or a clear page."""

from __future__ import annotations

import time

import pytest

from tests.accounts import create_local_user
from tests.conftest import APP_REDIRECT, form_fields, is_sign_in_page, pkce_pair
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment, query, walker


@pytest.fixture
def app(make_app):
    built = make_app(DEPLOYMENT=provider_deployment())
    create_local_user(built, EMAIL, PASSWORD)
    return built


@pytest.fixture
def signed_in(client):
    """A browser with a live Ferry session, and the ID token claims of its first sign-in."""
    first = walker(client)
    claims = first.id_token_claims(first.tokens(EMAIL, PASSWORD)["id_token"])
    return claims


def test_prompt_none_with_a_session_returns_a_code_silently(client, signed_in):
    silent = walker(client)
    answer = query(silent.authorize(prompt="none"))
    assert "code" in answer and answer["state"] == silent.state and answer["iss"] == "http://localhost"
    tokens = silent.exchange(answer["code"]).get_json()
    claims = silent.id_token_claims(tokens["id_token"])
    assert claims["sub"] == signed_in["sub"] and claims["sid"] == signed_in["sid"]
    assert claims["auth_time"] == signed_in["auth_time"], "a silent sign-in is the same authentication"


def test_prompt_none_without_a_session_is_login_required_with_state_and_iss(client):
    silent = walker(client)
    answer = query(silent.authorize(prompt="none"))
    assert answer == {"error": "login_required", "error_description": answer["error_description"],
                      "state": silent.state, "iss": "http://localhost"}


def test_prompt_none_when_consent_is_due_is_consent_required(client, signed_in):
    answer = query(walker(client, "asks").authorize(prompt="none"))
    assert answer["error"] == "consent_required" and "iss" in answer


def test_prompt_none_past_max_age_is_login_required(client, signed_in):
    time.sleep(1.1)  # auth_time has one-second resolution
    answer = query(walker(client).authorize(prompt="none", max_age="0"))
    assert answer["error"] == "login_required"


def test_prompt_none_with_other_values_is_invalid(client, signed_in):
    answer = query(walker(client).authorize(prompt="none login"))
    assert answer["error"] == "invalid_request" and answer["iss"] == "http://localhost"


def test_prompt_none_for_an_acr_the_session_lacks_is_interaction_required(client, signed_in):
    answer = query(walker(client).authorize(prompt="none", acr_values="phr"))
    assert answer["error"] == "interaction_required"


def test_prompt_login_signs_in_again_and_auth_time_moves(client, signed_in):
    time.sleep(1.1)
    again = walker(client)
    response = again.authorize(prompt="login")
    assert response.status_code == 200 and is_sign_in_page(response), "prompt=login reused the session"
    tokens = again.exchange(again.code_from(again.post(identifier=EMAIL, password=PASSWORD))).get_json()
    claims = again.id_token_claims(tokens["id_token"])
    assert claims["auth_time"] > signed_in["auth_time"]
    assert claims["sid"] != signed_in["sid"], "a new sign-in is a new session"


def test_max_age_reuses_a_fresh_session_and_always_yields_auth_time(client, signed_in):
    fresh = walker(client)
    tokens = fresh.exchange(fresh.code_from(fresh.authorize(max_age="3600"))).get_json()
    assert fresh.id_token_claims(tokens["id_token"])["auth_time"] == signed_in["auth_time"]


@pytest.mark.parametrize("value", ["-1", "soon", "1e3", "١٢"])
def test_a_bad_max_age_is_invalid_request(client, value):
    assert query(walker(client).authorize(max_age=value))["error"] == "invalid_request"


def test_login_hint_prefills_the_sign_in_page(client):
    hinted = walker(client)
    page = hinted.start(login_hint="Dana@Example.com").get_data(as_text=True)
    assert 'value="Dana@Example.com"' in page


def test_login_hint_for_someone_else_does_not_reuse_the_session(client, signed_in):
    other = walker(client)
    assert query(other.authorize(prompt="none", login_hint="erin@example.com"))["error"] == "login_required"
    assert "code" in query(walker(client).authorize(prompt="none", login_hint=EMAIL.upper()))


def test_id_token_hint_for_another_user_needs_a_sign_in(app, client, signed_in):
    create_local_user(app, "erin@example.com", PASSWORD)
    other_browser = app.test_client()
    erin = walker(other_browser)
    erin_token = erin.tokens("erin@example.com", PASSWORD)["id_token"]
    answer = query(walker(client).authorize(prompt="none", id_token_hint=erin_token))
    assert answer["error"] == "login_required"


def test_a_forged_id_token_hint_is_refused(client):
    answer = query(walker(client).authorize(id_token_hint="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."))
    assert answer["error"] == "invalid_request"


def test_select_account_asks_which_account(client, signed_in):
    chooser = walker(client)
    response = chooser.authorize(prompt="select_account")
    page = client.get(response.headers["Location"])
    body = page.get_data(as_text=True)
    assert f"Continue as {EMAIL}" in body and "Use another account" in body
    fields = form_fields(body)
    answer = client.post("/authorize/account", data={**fields, "decision": "continue"})
    assert "code" in query(answer) and query(answer)["state"] == chooser.state
    other = client.post("/authorize/account", data={**fields, "decision": "other"})
    assert other.headers["Location"].endswith("/login")


def test_select_account_without_a_session_goes_to_sign_in(client):
    assert is_sign_in_page(walker(client).start(prompt="select_account"))


def test_prompt_create_for_an_app_without_sign_up_is_a_clear_page(make_app):
    tables = provider_deployment()
    tables["apps"]["test-app"]["signup"] = False
    response = walker(make_app(DEPLOYMENT=tables).test_client()).authorize(prompt="create")
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "new accounts are not open here" in body
    assert "prompt" not in body.split("Sign in</a>")[0].rsplit("href=", 1)[-1]


@pytest.mark.parametrize("parameter, error", [
    ("request", "request_not_supported"), ("request_uri", "request_uri_not_supported"),
    ("registration", "registration_not_supported"),
])
def test_request_objects_are_refused_by_name(client, parameter, error):
    answer = query(walker(client).authorize(**{parameter: "eyJhbGciOiJub25lIn0.e30."}))
    assert answer["error"] == error and answer["iss"] == "http://localhost" and answer["state"]


def test_an_unsupported_response_mode_is_refused(client):
    assert query(walker(client).authorize(response_mode="form_post"))["error"] == "invalid_request"


def test_every_error_redirect_carries_iss_and_state(client):
    answer = query(walker(client).authorize(response_type="token"))
    assert answer["error"] == "unsupported_response_type"
    assert answer["iss"] == "http://localhost" and "state" in answer


def test_acr_values_are_answered_with_the_acr_reached(client):
    asking = walker(client)
    response = asking.sign_in(EMAIL, PASSWORD, acr_values="urn:ferry:acr:sfa")
    claims = asking.id_token_claims(asking.exchange(asking.code_from(response)).get_json()["id_token"])
    assert claims["acr"] == "urn:ferry:acr:sfa" and claims["amr"] == ["pwd"]


def test_without_acr_values_the_id_token_has_no_acr(client, signed_in):
    assert "acr" not in signed_in


def test_authorize_accepts_post(client, signed_in):
    poster = walker(client)
    poster.verifier, challenge = pkce_pair()
    response = client.post("/authorize", data={
        "response_type": "code", "client_id": "test-app", "redirect_uri": APP_REDIRECT,
        "scope": "openid", "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert "code" in query(response) and query(response)["state"] == "s1"
