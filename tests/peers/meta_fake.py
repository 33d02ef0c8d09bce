"""A faithful fake of Facebook Login and the Graph API endpoints Ferry's ``meta`` connector uses.

Meta cannot run here, so this Flask app (in a thread, real sockets on 127.0.0.1) follows what
Meta documents in "Manually Build a Login Flow", "OIDC Code Flow with PKCE for Manually Built
Facebook Login Flows" (the PKCE parameters only) and "Securing Graph API Requests":

* ``GET /{version}/dialog/oauth``: the Login Dialog. An unknown ``client_id`` or a
  ``redirect_uri`` not among the app's Valid OAuth Redirect URIs is an error page, as at Meta
  (no redirect). Otherwise a page "Log in to Facebook" for the configured user with the buttons
  "Continue as <first name>" and "Cancel"; the form posts to ``.../dialog/oauth/confirm``, which
  redirects to ``redirect_uri`` with ``code`` and ``state``, or with ``error_reason=user_denied``,
  ``error=access_denied``, ``error_description=Permissions error.`` and ``state``.
* ``GET`` or ``POST /{version}/oauth/access_token``: the code exchange (``client_id``,
  ``client_secret``, ``redirect_uri``, ``code``, and ``code_verifier`` when the dialog had a
  ``code_challenge``). Success: ``{"access_token", "token_type": "bearer", "expires_in"}``.
  Errors: HTTP 400 ``{"error": {"message", "type": "OAuthException", "code", "error_subcode"?,
  "fbtrace_id"}}``: code 101 (unknown app), 1 ("Error validating client secret."), 100 (a code
  unknown, used (subcode 36009), expired (36007), for another ``redirect_uri`` (36008) or for
  another PKCE verifier).
* ``GET /{version}/me?fields=...``: the profile, with the user access token in ``access_token``
  or an ``Authorization: Bearer`` / ``OAuth`` header. With *Require App Secret* on (the default
  here) ``appsecret_proof`` (hex HMAC-SHA256 of the token keyed by the app secret) must be sent
  and right (code 100, type ``GraphMethodException``); an unknown or revoked token is code 190;
  an unknown field is code 100. ``email`` is there only when the user has a confirmed address
  and granted the permission.

Guessed, because Meta does not document it: the message of a PKCE mismatch. Knobs for tests:
:attr:`MetaFake.faults` (a path answers a canned reply), :meth:`MetaFake.revoke_tokens`,
:meth:`MetaFake.expire_codes`, :attr:`MetaFake.after_token`, :meth:`MetaFake.stopped` (an
outage), :attr:`MetaFake.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import requests as http
from flask import Flask, Response, jsonify, render_template_string, request

from tests.peers.loopback import LoopbackServer

APP_ID = "1234567890123456"
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERSION = "v25.0"
CODE_LIFETIME = 600.0  # seconds: Meta's codes live about ten minutes
PROFILE_FIELDS = ("id", "name", "first_name", "last_name", "email", "picture")

DIALOG = """<!doctype html>
<html lang="en"><head><title>Log in to Facebook</title></head><body>
<h1>Log in to Facebook</h1>
<p>{{ app }} will receive your name and profile picture{% if email %} and email address{% endif %}.</p>
<form method="post" action="{{ action }}">
  {% for key, value in fields.items() %}<input type="hidden" name="{{ key }}" value="{{ value }}">
  {% endfor %}
  <button type="submit" name="decision" value="allow">Continue as {{ user.first_name }}</button>
  <button type="submit" name="decision" value="cancel">Cancel</button>
</form></body></html>"""
BLOCKED = """<!doctype html><html lang="en"><head><title>Error</title></head><body>
<h1>{{ title }}</h1><p>{{ message }}</p></body></html>"""


@dataclass
class FakeUser:
    """A Facebook account; ``id`` is its app-scoped id for the fake's one app."""

    id: str
    first_name: str
    last_name: str
    email: str | None = None  # None: signed up with a phone number, or no confirmed address
    grants_email: bool = True  # False: declines the email permission in the dialog

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Grant:
    user: FakeUser
    redirect_uri: str
    scopes: list[str]
    challenge: str | None
    method: str | None
    issued: float = field(default_factory=time.monotonic)
    used: bool = False


def graph_error(message: str, code: int, subcode: int | None = None,
                kind: str = "OAuthException", status: int = 400) -> Response:
    """Meta's documented error shape."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": "A" + secrets.token_urlsafe(15)}
    if subcode is not None:
        error["error_subcode"] = subcode
    response = jsonify({"error": error})
    response.status_code = status
    response.headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_request" "{message}"'
    return response


class MetaFake(LoopbackServer):
    """One Meta app (``APP_ID``) with Facebook Login, and the user who is signed in to Facebook."""

    thread_name = "meta-fake"

    def __init__(self, redirect_uris: list[str] | None = None) -> None:
        self._init_loopback()
        self.app_id, self.app_secret = APP_ID, APP_SECRET
        #: The app's Valid OAuth Redirect URIs (strict mode: exact match).
        self.redirect_uris: list[str] = list(redirect_uris or [])
        self.require_app_secret = True
        #: Who is signed in to Facebook in "the browser" (the dialog logs them in).
        self.user = FakeUser("10229876543210987", "Alice", "Liddell", "alice@example.com")
        #: path -> (status, body, content type): that path answers this instead.
        self.faults: dict[str, tuple[int, Any, str]] = {}
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}
        #: Called right after a token is issued (a revocation or secret reset in between).
        self.after_token: Callable[[], None] | None = None
        self.app = self._build()

    # -- knobs --------------------------------------------------------------------------------
    def revoke_tokens(self) -> None:
        """The user removed the app (or changed their password): every token is invalid."""
        self.tokens.clear()

    def expire_codes(self) -> None:
        for grant in self.grants.values():
            grant.issued -= CODE_LIFETIME + 1

    def calls(self, path: str) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
        """Requests received at ``path``: (method, path, query and form, headers)."""
        return [call for call in self.requests if call[1] == path]

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- the browser's part, without a browser ---------------------------------------------------
    def sign_in(self, dialog_url: str, cancel: bool = False) -> str:
        """Open the dialog and press a button, as a user would; returns the redirect target."""
        with http.Session() as session:
            page = session.get(dialog_url, timeout=5)
            assert page.status_code == 200, page.text[:300]
            fields = dict(_hidden_fields(page.text))
            answer = session.post(urljoin(dialog_url, "oauth/confirm"),
                                  data={**fields, "decision": "cancel" if cancel else "allow"},
                                  allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text[:300]
        return answer.headers["Location"]

    # -- the app ------------------------------------------------------------------------------
    def _build(self) -> Flask:
        app = Flask("meta-fake")

        @app.before_request
        def record() -> Response | None:
            values = {**request.args.to_dict(), **request.form.to_dict()}
            self.requests.append((request.method, request.path, values, dict(request.headers)))
            fault = self.faults.get(request.path)
            if fault is not None:
                status, body, content_type = fault
                data = body if isinstance(body, str | bytes) else jsonify(body).get_data()
                return Response(data, status, content_type=content_type)
            return None

        app.add_url_rule(f"/{VERSION}/dialog/oauth", "dialog", self._dialog)
        app.add_url_rule(f"/{VERSION}/dialog/oauth/confirm", "confirm", self._confirm,
                         methods=["POST"])
        app.add_url_rule(f"/{VERSION}/oauth/access_token", "token", self._token,
                         methods=["GET", "POST"])
        app.add_url_rule(f"/{VERSION}/me", "me", self._me)
        return app

    def _dialog_problem(self, values: dict[str, str]) -> Response | None:
        if values.get("client_id") != self.app_id:
            return Response(render_template_string(
                BLOCKED, title="Invalid App ID",
                message="The provided app ID does not look like a valid app ID."), 400)
        if values.get("redirect_uri") not in self.redirect_uris:
            return Response(render_template_string(
                BLOCKED, title="URL blocked",
                message="This redirect failed because the redirect URI is not whitelisted in "
                        "the app's Client OAuth Settings."), 400)
        if values.get("response_type", "code") != "code":
            return Response(render_template_string(
                BLOCKED, title="Error", message="This fake only implements response_type=code"),
                400)
        return None

    def _dialog(self) -> Response:
        values = request.args.to_dict()
        problem = self._dialog_problem(values)
        if problem is not None:
            return problem
        keep = ("client_id", "redirect_uri", "state", "scope", "code_challenge",
                "code_challenge_method")
        scopes = values.get("scope", "public_profile").replace(" ", ",").split(",")
        return Response(render_template_string(
            DIALOG, app="Ferry", user=self.user, email="email" in scopes,
            action=f"/{VERSION}/dialog/oauth/confirm",
            fields={k: values[k] for k in keep if k in values}))

    def _confirm(self) -> Response:
        values = request.form.to_dict()
        problem = self._dialog_problem(values)
        if problem is not None:
            return problem
        back: dict[str, str] = {}
        if values.get("decision") != "allow":
            back.update(error_reason="user_denied", error="access_denied",
                        error_description="Permissions error.")
        else:
            scopes = [s for s in values.get("scope", "").replace(" ", ",").split(",") if s]
            if not self.user.grants_email and "email" in scopes:
                scopes.remove("email")
            code = "AQ" + secrets.token_urlsafe(48)
            self.grants[code] = Grant(self.user, values["redirect_uri"],
                                      ["public_profile", *scopes],
                                      values.get("code_challenge"),
                                      values.get("code_challenge_method", "plain")
                                      if values.get("code_challenge") else None)
            back["code"] = code
        if "state" in values:
            back["state"] = values["state"]
        separator = "&" if "?" in values["redirect_uri"] else "?"
        # Meta appends "#_=_" to the redirect; browsers keep the fragment from the server.
        return Response(status=302, headers={
            "Location": values["redirect_uri"] + separator + urlencode(back) + "#_=_"})

    def _token(self) -> Response:
        values = {**request.args.to_dict(), **request.form.to_dict()}
        if values.get("client_id") != self.app_id:
            return graph_error("Error validating application. Invalid application ID.", 101)
        if not hmac.compare_digest(values.get("client_secret", ""), self.app_secret):
            return graph_error("Error validating client secret.", 1)
        grant = self.grants.get(values.get("code", ""))
        if grant is None:
            return graph_error("Invalid verification code format.", 100)
        if grant.used:
            return graph_error("This authorization code has been used.", 100, 36009)
        if time.monotonic() - grant.issued > CODE_LIFETIME:
            return graph_error("This authorization code has expired.", 100, 36007)
        if values.get("redirect_uri") != grant.redirect_uri:
            return graph_error("Error validating verification code. Please make sure your "
                               "redirect_uri is identical to the one you used in the OAuth "
                               "dialog request", 100, 36008)
        if grant.challenge is not None and not _pkce_ok(grant, values.get("code_verifier", "")):
            return graph_error("Invalid code verifier.", 100)  # guessed wording
        grant.used = True
        token = "EAA" + secrets.token_urlsafe(96)
        self.tokens[token] = grant
        if self.after_token is not None:
            self.after_token()
        return jsonify({"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    def _me(self) -> Response:
        token = request.args.get("access_token", "")
        header = request.headers.get("Authorization", "")
        for prefix in ("Bearer ", "OAuth "):
            if header.startswith(prefix):
                token = header[len(prefix):]
        if not token:
            return graph_error("An active access token must be used to query information about "
                               "the current user.", 2500)
        grant = self.tokens.get(token)
        if grant is None:
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        proof = request.args.get("appsecret_proof")
        if self.require_app_secret and not proof:
            return graph_error("API calls from the server require an appsecret_proof argument",
                               100, kind="GraphMethodException")
        expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if proof is not None and not hmac.compare_digest(proof, expected):
            return graph_error("Invalid appsecret_proof provided in the API argument", 100,
                               kind="GraphMethodException")
        wanted = [f for f in request.args.get("fields", "id,name").split(",") if f]
        for name in wanted:
            if name not in PROFILE_FIELDS:
                return graph_error(f"(#100) Tried accessing nonexisting field ({name}) on node "
                                   "type (User)", 100)
        user = grant.user
        profile: dict[str, Any] = {
            "id": user.id, "name": user.name, "first_name": user.first_name,
            "last_name": user.last_name,
            "picture": {"data": {"height": 50, "is_silhouette": False, "width": 50,
                                 "url": self.url(f"/platform/profilepic/?asid={user.id}")}},
        }
        if user.email and "email" in grant.scopes:
            profile["email"] = user.email
        return jsonify({key: profile[key] for key in wanted if key in profile})


def _pkce_ok(grant: Grant, verifier: str) -> bool:
    if grant.method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == grant.challenge
    return verifier == grant.challenge


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    """The dialog form's hidden inputs (the fake's own markup, read back)."""
    return [(html.unescape(name), html.unescape(value)) for name, value in re.findall(
        r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)]
