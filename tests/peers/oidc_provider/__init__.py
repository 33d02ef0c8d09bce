"""The npm ``oidc-provider`` package as a real legacy OpenID Provider, run by ``node``.

:class:`OidcProviderPeer` installs the package into this folder on first use (``npm ci`` from
the lock file, ~5 s, when ``node_modules`` is missing), starts ``server.js`` on a free loopback
port and stops it by its PID::

    with OidcProviderPeer(ACCOUNTS) as idp:
        client = idp.register_client([f"{ferry_issuer}/federate/corp/callback"])
        # {"client_id": ..., "client_secret": ..., ...}: a client of its own for every test
        answer = idp.sign_in(authorize_url, "alice@example.com", callback_prefix)
        # the browser's way back to Ferry: Answer("GET", url) or Answer("POST", url, form)

Behaviour worth knowing (oidc-provider 9):

* The issuer is ``http://localhost:PORT`` and the discovery document follows the Host header,
  so everything talks to it as ``localhost``.
* Clients are registered per test (RFC 7591 dynamic registration with an initial access token),
  since each test's Ferry listens on a port of its own. PKCE is required for every client.
* The built-in development login page takes any password for a login in ``accounts``; an unknown
  login is asked again. It then asks for consent ("Continue"); its "Cancel" link answers
  ``error=access_denied``.
* It always sends the RFC 9207 ``iss`` parameter and says so in discovery. E-mail and names are
  released by userinfo; in the ID token only when asked for with the ``claims`` parameter.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.peers import npm

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 20.0


class OidcProviderError(RuntimeError):
    """The peer could not be installed or started (the message has its output)."""


@dataclass(frozen=True)
class Answer:
    """What the IdP sends the browser back to the client with."""

    method: str  # "GET" (query) or "POST" (form_post)
    url: str
    form: dict[str, str] = field(default_factory=dict)


def ensure_installed() -> None:
    """``npm ci`` into this folder when the package is missing (:mod:`tests.peers.npm`)."""
    npm.ensure_installed(HERE, HERE / "node_modules" / "oidc-provider" / "package.json", OidcProviderError)


class OidcProviderPeer:
    """``node server.js`` on 127.0.0.1; use as a context manager or :meth:`start`/:meth:`stop`."""

    def __init__(self, accounts: dict[str, dict]) -> None:
        self.accounts = accounts
        self.registration_token = secrets.token_urlsafe(24)
        self.issuer = ""
        self._process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="ferry-oidc-provider-", suffix=".log",
                                                delete=False)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> OidcProviderPeer:
        ensure_installed()
        env = {**os.environ, "ACCOUNTS": json.dumps(self.accounts),
               "REGISTRATION_TOKEN": self.registration_token, "PORT": "0"}
        env.pop("NODE_OPTIONS", None)
        self._process = subprocess.Popen(
            ["node", "server.js"], cwd=HERE, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._log,
        )
        try:
            self.issuer = json.loads(self._first_line())["issuer"]
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _first_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(STARTUP_TIMEOUT):
                raise OidcProviderError(f"oidc-provider did not start:\n{self.output()}")
        line = self._process.stdout.readline().decode()
        if not line.strip():
            raise OidcProviderError(f"oidc-provider exited:\n{self.output()}")
        return line

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if requests.get(self.discovery_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise OidcProviderError(f"oidc-provider does not answer:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> OidcProviderPeer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests use -----------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict:
        return requests.get(self.discovery_url, timeout=5).json()

    def register_client(self, redirect_uris: list[str], **metadata) -> dict:
        """A new confidential client (RFC 7591); ``metadata`` adds or overrides fields."""
        body = {"redirect_uris": redirect_uris, "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic", **metadata}
        response = requests.post(
            f"{self.issuer}/reg", json=body, timeout=5,
            headers={"Authorization": f"Bearer {self.registration_token}"},
        )
        if response.status_code != 201:
            raise OidcProviderError(f"registration refused: {response.status_code} {response.text}")
        return response.json()

    def sign_in(self, authorize_url: str, login: str, callback_prefix: str, *,
                password: str = "any password", cancel: bool = False,
                session: requests.Session | None = None) -> Answer:
        """Walk the IdP's pages as a browser would, up to the way back to ``callback_prefix``.

        ``cancel`` presses "Cancel" on the login page instead of signing in.
        """
        browser = session or requests.Session()
        url, method, form = authorize_url, "GET", None
        for _hop in range(20):
            if url.startswith(callback_prefix):
                return Answer(method, url, form or {})
            response = browser.request(method, url, data=form, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url, method, form = urljoin(url, response.headers["Location"]), "GET", None
                continue
            page = response.text
            if response.status_code != 200:
                raise OidcProviderError(f"{url} answered {response.status_code}: {page[:500]}")
            action = _form_action(page)
            fields = _hidden_fields(page)
            if fields.get("prompt") == "login":
                if cancel:
                    url, method, form = urljoin(url, _cancel_link(page)), "GET", None
                    continue
                fields.update(login=login, password=password)
            elif fields.get("prompt") != "consent" and not action.startswith(callback_prefix):
                raise OidcProviderError(f"unexpected page at {url}: {page[:500]}")
            url, method, form = urljoin(url, action), "POST", fields
        raise OidcProviderError("too many redirects at the IdP")


def _form_action(page: str) -> str:
    found = re.search(r'<form[^>]*action="([^"]*)"', page)
    if not found:
        raise OidcProviderError(f"no form on the page: {page[:500]}")
    return html.unescape(found.group(1))


def _hidden_fields(page: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1) if value else "")
    return fields


def _cancel_link(page: str) -> str:
    found = re.search(r'<a[^>]*href="([^"]*/abort)"', page)
    if not found:
        raise OidcProviderError("no cancel link on the login page")
    return html.unescape(found.group(1))
