"""Real servers on loopback and a headless Chromium, for tests that click through Ferry.

* ``servers`` starts Ferry and the demo app (``demo/client_app.py``) on free ports of 127.0.0.1,
  each in a werkzeug thread, with the real password-grant server as Ferry's legacy IDP. Ferry is
  built per test on a fresh database, so every test starts with nobody migrated.
* ``legacy_idp`` is that password-grant server, running when the test starts and running again
  after it, whatever the test did to it.
* ``browser`` is one Chromium for the session; ``page`` is a fresh context (own cookie jar) per
  test; ``screenshot`` saves the page under ``tests/artifacts/``.

The browser reaches both apps as ``http://localhost:PORT`` while they listen on 127.0.0.1; cookies
ignore ports, so Ferry (``ferry_session``) and the demo app (``demo_app_session``) keep their own
cookie names.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from demo import client_app
from tests.conftest import deployment, ropc_connector
from tests.peers.password_grant import PasswordGrantServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEMO_CLIENT_ID = "demo-app"
DEMO_CLIENT_SECRET = "demo-app-test-secret-0123"


class ServedApp:
    """A WSGI app on a free port of 127.0.0.1, served by werkzeug in a background thread.

    The socket is bound before the app exists, so each app can be configured with the other's
    address (Ferry must know the demo app's redirect URI and vice versa) without picking a port
    and hoping it stays free.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.app: Flask | None = None
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://localhost:{self.server.server_port}"
        # A short poll interval: shutdown() waits for the serving loop to look at its flag.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{label}-server", daemon=True,
        )

    def _dispatch(self, environ: dict[str, Any], start_response: Callable) -> Any:
        """The app's answer, read whole and its iterable closed here: werkzeug's server skips
        ``close()`` when the browser hung up first (a page left while its script loaded), and
        the open static file then warned (ResourceWarning) in whichever test ran next."""
        assert self.app is not None, f"{self.label} is not ready"
        answer = self.app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()

    def serve(self, app: Flask) -> None:
        self.app = app
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=10)
        self.server.server_close()


@dataclass
class Servers:
    ferry: ServedApp
    demo: ServedApp
    legacy: PasswordGrantServer

    @property
    def ferry_app(self) -> Flask:
        assert self.ferry.app is not None
        return self.ferry.app


@pytest.fixture
def legacy_idp(password_grant_server: PasswordGrantServer) -> Iterator[PasswordGrantServer]:
    """The real legacy IDP, up now and up again after the test (tests may stop it)."""
    if not password_grant_server.running:
        password_grant_server.start()
    yield password_grant_server
    if not password_grant_server.running:
        password_grant_server.start()


@pytest.fixture
def servers(make_app, legacy_idp: PasswordGrantServer, monkeypatch) -> Iterator[Servers]:
    # The demo app reaches Ferry with requests: a proxy from the environment must not intervene.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    ferry, demo = ServedApp("ferry"), ServedApp("demo-app")
    try:
        tables = deployment({"legacy": ropc_connector(legacy_idp)})
        tables["apps"][DEMO_CLIENT_ID] = {
            "name": "Demo app", "client_secret": DEMO_CLIENT_SECRET,
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
        }
        ferry.serve(make_app(ISSUER=ferry.url, DEPLOYMENT=tables))
        # The demo app takes test_config keys named like the environment variables it reads
        # (FERRY_URL, DEMO_APP_URL): nothing to set in, or restore to, os.environ.
        demo.serve(client_app.create_app({
            "FERRY_URL": ferry.url, "DEMO_APP_URL": demo.url, "SECRET_KEY": "demo-test-key",
            "FERRY_CLIENT_ID": DEMO_CLIENT_ID, "FERRY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }))
        yield Servers(ferry=ferry, demo=demo, legacy=legacy_idp)
    finally:
        demo.stop()
        ferry.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1024, "height": 720})
    context.set_default_timeout(5000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot(page: Page, request) -> Callable[[str], Path]:
    """``screenshot("label")`` saves the whole page as ``tests/artifacts/<test>-NN-label.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    taken: list[Path] = []

    def take(label: str) -> Path:
        path = ARTIFACTS / f"{test}-{len(taken) + 1:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take
