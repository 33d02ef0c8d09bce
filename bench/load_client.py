"""The benchmarks' load client: threads of fresh browsers signing in to Ferry, one after another.

:class:`Load` runs the threads and records every sign-in; a benchmark says what one sign-in is.
Here, for signin.py, :class:`CodeFlowLoad`: returning users walking Ferry's code flow. Each
sign-in is a fresh browser (cookie jar), so single sign-on never short-cuts the password:
``/authorize`` (PKCE, state, nonce; it answers with the sign-in page) -> ``POST /login`` -> the
code from the 303 -> ``POST /token`` with Basic auth, then the ID token's signature, iss, aud,
nonce and sub.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
from ferry_server import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Account
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


class SignInFailed(Exception):
    """One sign-in went wrong; ``kind`` names the step and answer, ``detail`` what came back."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


def hidden_fields(body: str) -> dict[str, str]:
    """The hidden inputs of a page's form (CSRF token, step...), unescaped."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1) if value else "")
    return fields


class Browser:
    """A fresh browser (cookie jar) signing one returning user in to the bench app."""

    def __init__(self, base: str, keys: KeySet) -> None:
        self.base, self.keys = base, keys
        self.http = requests.Session()

    def _expect(self, response: requests.Response, status: int, step: str) -> requests.Response:
        if response.status_code != status:
            raise SignInFailed(f"{step} -> {response.status_code}", response.text[:600])
        return response

    def sign_in(self, account: Account) -> None:
        """Walk the code flow once; raise :class:`SignInFailed` at the first wrong answer."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        timeout = (5, 60)
        page = self._expect(self.http.get(self.base + "/authorize", params={
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile", "state": state, "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
        }, allow_redirects=False, timeout=timeout), 200, "GET /authorize")  # the sign-in page
        login = self.base + "/login"  # where its form posts
        form = {**hidden_fields(page.text), "identifier": account.email,
                "password": account.password}
        response = self.http.post(login, data=form, allow_redirects=False, timeout=timeout)
        self._expect(response, 303, "POST /login")
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != [state]:
            raise SignInFailed("POST /login -> wrong redirect", location[:300])
        response = self._expect(self.http.post(self.base + "/token", data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
        }, auth=(CLIENT_ID, CLIENT_SECRET), timeout=timeout), 200, "POST /token")
        answer = response.json()
        if not answer.get("access_token") or not answer.get("id_token"):
            raise SignInFailed("POST /token -> no tokens", response.text[:300])
        try:
            claims = jwt.decode(answer["id_token"], self.keys).claims
        except (JoseError, ValueError) as error:
            raise SignInFailed("id_token -> not valid", f"{type(error).__name__}: {error}") from None
        expected = {"iss": self.base, "aud": CLIENT_ID, "nonce": nonce, "sub": account.user_id}
        wrong = {k: claims.get(k) for k, v in expected.items() if claims.get(k) != v}
        if wrong:
            raise SignInFailed("id_token -> wrong claims", repr(wrong))

    def close(self) -> None:
        self.http.close()


@dataclass
class Outcome:
    finished: float  # time.monotonic() at the end of the sign-in
    seconds: float
    failure: SignInFailed | None = None
    figures: dict = field(default_factory=dict)  # what the benchmark's sign_in returned


class Load:
    """Client threads signing in continuously until ``stop`` is set.

    A benchmark overrides :meth:`sign_in`; every attempt becomes an :class:`Outcome` in
    ``outcomes``, a failure included, with the seconds it took.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []  # list.append is atomic: the threads share it

    def sign_in(self, number: int, turn: int) -> dict:
        """Sign in once as thread ``number`` on its ``turn``-th attempt; raise SignInFailed.

        Return what this sign-in measured of itself, kept as ``Outcome.figures``, e.g.::

            def sign_in(self, number, turn):
                began = time.thread_time()
                post_form(self.users[number])
                return {"client_cpu": time.thread_time() - began}
        """
        raise NotImplementedError

    def start(self) -> list[threading.Thread]:
        runners = [threading.Thread(target=self._run, args=(n,), daemon=True, name=f"browser-{n}")
                   for n in range(self.threads)]
        for runner in runners:
            runner.start()
        return runners

    def _run(self, number: int) -> None:
        turn = 0
        while not self.stop.is_set():
            figures, failure = {}, None
            began = time.monotonic()
            try:
                figures = self.sign_in(number, turn)
            except SignInFailed as error:
                failure = error
            except Exception as error:  # noqa: BLE001 - a connection error is a finding too
                failure = SignInFailed(type(error).__name__, str(error)[:300])
            ended = time.monotonic()
            self.outcomes.append(Outcome(ended, ended - began, failure, figures))
            turn += 1


class CodeFlowLoad(Load):
    """Returning users, taken in turn, each signed in by a fresh :class:`Browser`."""

    def __init__(self, base: str, keys: KeySet, accounts: list[Account], threads: int) -> None:
        super().__init__(threads)
        self.base, self.keys, self.accounts = base, keys, accounts

    def sign_in(self, number: int, turn: int) -> dict:
        browser = Browser(self.base, self.keys)
        try:
            browser.sign_in(self.accounts[(number + turn * self.threads) % len(self.accounts)])
        finally:
            browser.close()
        return {}
