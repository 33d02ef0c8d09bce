"""npm ``openid-client`` (v6, an OpenID-certified relying party library) as an app of Ferry's.

:class:`OpenIdClientRp` installs the package into this folder on first use (``npm ci`` from the
lock file, ~1 s, when ``node_modules`` is missing), starts ``rp.mjs`` on a free loopback port and
stops it by its PID. It is started before Ferry serves (discovery waits for the first sign-in),
so Ferry's app entry can name the RP's redirect URI::

    ferry = ServedApp("ferry")
    with OpenIdClientRp(ferry.url, "rp", auth_method="client_secret_basic",
                        client_secret=SECRET) as rp:
        tables["apps"]["rp"] = rp.app_entry()
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables))
        page.goto(rp.login_url(scope="openid email"))   # ... the browser signs in at Ferry
        rp.state()["claims"]["sub"]

``auth_method`` is ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (the key
comes from :func:`client_key`, or pass ``private_jwk``; :meth:`OpenIdClientRp.app_entry` publishes
its public half as ``jwks``) or ``none`` (a public client). Every request uses PKCE S256, state
and nonce.

Behaviour worth knowing (openid-client 6.8):

* It is strict by default: the discovery ``issuer`` must equal the issuer URL, the RFC 9207
  ``iss`` parameter is required on every authorization response (error ones included) when
  discovery advertises ``authorization_response_iss_parameter_supported``, the ID token's
  signature, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce`` (and ``auth_time`` when ``max_age``
  was sent) are checked, and userinfo's ``sub`` must equal the ID token's.
* ``private_key_jwt`` assertions carry ``aud`` = the issuer identifier (not the token endpoint
  URL), as oauth4webapi 3 does since the 2025 audience advisory; the header has the JWK's ``kid``.
* Only plain http is allowed beyond the defaults (``allowInsecureRequests``): Ferry runs on
  http://localhost in tests.
* Pages: ``/callback`` and ``/refresh`` show ``<pre id="claims">`` (ID token claims),
  ``<pre id="userinfo">`` and any error as ``<p id="error">code: description</p>``; ``/`` says
  "signed in as ..." or "signed out". ``/refresh?token=...`` presents that refresh token instead
  of the stored one. ``/state`` (JSON) is the last outcome, for assertions.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
from joserfc.jwk import ECKey, RSAKey

from tests.peers import npm

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 20.0
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


class OpenIdClientRpError(RuntimeError):
    """The RP could not be installed or started (the message has its output)."""


def ensure_installed() -> None:
    """``npm ci`` into this folder when the package is missing (:mod:`tests.peers.npm`)."""
    npm.ensure_installed(HERE, HERE / "node_modules" / "openid-client" / "package.json", OpenIdClientRpError)


def client_key(alg: str = "RS256", kid: str = "rp-key-1") -> dict:
    """A new private JWK for ``private_key_jwt`` (RS256: RSA 2048; ES256: P-256)."""
    if alg == "RS256":
        key = RSAKey.generate_key(2048, {"kid": kid, "alg": alg, "use": "sig"}, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", {"kid": kid, "alg": alg, "use": "sig"}, private=True)
    else:
        raise ValueError(f"unsupported alg {alg!r}")
    return key.as_dict(private=True)


def public_jwks(private_jwk: dict) -> dict:
    """The JWK Set that publishes the public half of ``private_jwk``."""
    key = (RSAKey if private_jwk["kty"] == "RSA" else ECKey).import_key(private_jwk)
    return {"keys": [key.as_dict(private=False)]}


class OpenIdClientRp:
    """``node rp.mjs`` on 127.0.0.1; use as a context manager or :meth:`start`/:meth:`stop`."""

    def __init__(self, issuer: str, client_id: str, *, auth_method: str = "client_secret_basic",
                 client_secret: str | None = None, private_jwk: dict | None = None,
                 metadata: dict | None = None) -> None:
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"auth_method must be one of {AUTH_METHODS}")
        if auth_method.startswith("client_secret") and not client_secret:
            raise ValueError(f"{auth_method} needs a client_secret")
        if auth_method == "private_key_jwt" and private_jwk is None:
            private_jwk = client_key()
        self.issuer = issuer
        self.client_id = client_id
        self.auth_method = auth_method
        self.client_secret = client_secret
        self.private_jwk = private_jwk
        self.metadata = metadata or {}
        self.url = ""
        self._process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="ferry-openid-client-rp-", suffix=".log",
                                                delete=False)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> OpenIdClientRp:
        ensure_installed()
        config = {"issuer": self.issuer, "client_id": self.client_id,
                  "auth_method": self.auth_method, "metadata": self.metadata}
        if self.client_secret:
            config["client_secret"] = self.client_secret
        if self.private_jwk:
            config["private_jwk"] = self.private_jwk
        env = {**os.environ, "RP_CONFIG": json.dumps(config), "PORT": "0"}
        env.pop("NODE_OPTIONS", None)
        self._process = subprocess.Popen(
            # stdin stays open while we run: rp.mjs exits when it closes (the test died).
            ["node", "rp.mjs"], cwd=HERE, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log,
        )
        try:
            self.url = json.loads(self._first_line())["url"]
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
                raise OpenIdClientRpError(f"the RP did not start:\n{self.output()}")
        line = self._process.stdout.readline().decode()
        if not line.strip():
            raise OpenIdClientRpError(f"the RP exited:\n{self.output()}")
        return line

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if requests.get(f"{self.url}/state", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise OpenIdClientRpError(f"the RP does not answer:\n{self.output()}")
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
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output(self) -> str:
        """What the RP wrote to stderr (each failure it showed on a page is logged there)."""
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def __enter__(self) -> OpenIdClientRp:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests use -----------------------------------------------------------------------
    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.url}/"

    def login_url(self, **parameters: str | int) -> str:
        """``/login`` with ``scope``, ``prompt``, ``max_age`` or ``login_hint``."""
        query = urlencode({k: v for k, v in parameters.items() if v is not None})
        return f"{self.url}/login" + (f"?{query}" if query else "")

    def refresh_url(self, token: str | None = None) -> str:
        return f"{self.url}/refresh" + (f"?{urlencode({'token': token})}" if token else "")

    def state(self) -> dict:
        """The last outcome: tokens, ``claims``, ``userinfo``, ``error``, ``refresh``, ..."""
        response = requests.get(f"{self.url}/state", timeout=5)
        response.raise_for_status()
        return response.json()

    def app_entry(self, **settings) -> dict:
        """Ferry's ``[apps.<client_id>]`` table for this RP; ``settings`` add or override keys."""
        entry: dict = {
            "name": "openid-client RP",
            "redirect_uris": [self.redirect_uri],
            "post_logout_redirect_uris": [self.post_logout_redirect_uri],
            "token_endpoint_auth_method": self.auth_method,
        }
        if self.client_secret:
            entry["client_secret"] = self.client_secret
        if self.private_jwk:
            entry["jwks"] = public_jwks(self.private_jwk)
        entry.update(settings)
        return entry
