"""Start/stop a real OAuth 2.0 password-grant server for integration tests.

:class:`PasswordGrantServer` runs :mod:`tests.peers.oauth_password_server.serve`
(Django + django-oauth-toolkit, Django's own user table) as a subprocess on
127.0.0.1, in a private temporary directory::

    with PasswordGrantServer() as idp:
        r = requests.post(idp.token_url, auth=(idp.client_id, idp.client_secret), data={
            "grant_type": "password", "username": "alice@example.com",
            "password": idp.users["alice@example.com"], "scope": "openid email profile"})
        token = r.json()["access_token"]
        requests.get(idp.userinfo_url, headers={"Authorization": f"Bearer {token}"}).json()
        # {"sub": "1", "email": "alice@example.com", "email_verified": true,
        #  "given_name": "Alice", "family_name": "Liddell", "name": "Alice Liddell"}

        # The user lookup, with a token of the client's own (client-credentials grant):
        r = requests.post(idp.token_url, auth=(idp.client_id, idp.client_secret),
                          data={"grant_type": "client_credentials"})  # scope: idp.lookup_scope
        requests.get(idp.lookup_url, params={"email": "alice@example.com"},
                     headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
        # [{"sub": "1", "email": "alice@example.com", ...}]   (the userinfo claims, same sub)

        idp.stop()   # outage: connections to token_url are refused
        idp.start()  # recovery: same port, same database, same users and tokens

Behaviour worth knowing (django-oauth-toolkit 3.4 + Django ModelBackend):

* Usernames are matched exactly (case-sensitive): ``Mixed.Case@Example.com``
  works, ``mixed.case@example.com`` gets ``400 invalid_grant``.
* Wrong password, unknown user and inactive user (dave) all give the same
  ``400 {"error": "invalid_grant", "error_description": "Invalid credentials given."}``.
* Bad/missing client credentials give ``401 {"error": "invalid_client"}``; the
  client may authenticate with HTTP Basic or ``client_id``/``client_secret``
  in the form body.
* Known scopes are exactly ``openid email profile``; no ``scope`` parameter
  means all three; an unknown scope gives ``400 invalid_scope``.
* ``/o/userinfo/`` needs a token with ``openid`` (otherwise ``401
  invalid_token``); ``email``/``email_verified`` need ``email``, the name
  claims need ``profile``.
* The user lookup ``GET /api/users?email=...`` (:attr:`lookup_url`) answers a
  JSON list of the active users with that address (case-insensitive), ``[]``
  when none. It needs a token with ``users.read`` (:attr:`lookup_scope`),
  which only the client-credentials grant gives (a client-credentials request
  without ``scope`` gets it; a password grant asking for it gets
  ``invalid_scope``): no or a revoked token gives ``401 invalid_token``, a
  token without the scope ``403 insufficient_scope``.
* :attr:`client_id` may use the client-credentials grant; the second client
  (:attr:`password_only_client_id`) only the password grant, so its
  client-credentials request gets ``400 unauthorized_client``.

This module imports neither Django nor requests; it only needs the standard
library, so it is cheap to import from conftest.py.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["PasswordGrantServer", "PasswordGrantServerError"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE_MODULE = "tests.peers.oauth_password_server.serve"


class PasswordGrantServerError(RuntimeError):
    """The peer server failed to start (message includes its output)."""


class PasswordGrantServer:
    """A django-oauth-toolkit password-grant server on 127.0.0.1, as a subprocess.

    Construct, then :meth:`start` (or use as a context manager, which starts it
    and on exit stops it and deletes its temporary directory).

    After the first start the following stay valid, even while stopped:
    :attr:`port`, :attr:`base_url`, :attr:`token_url`, :attr:`userinfo_url`,
    :attr:`client_id`, :attr:`client_secret`, :attr:`users`, :attr:`profiles`,
    :attr:`state`, :attr:`lookup_url`. :meth:`start` after :meth:`stop` reuses the same port and
    database, so accounts and issued tokens survive an outage.

    :param startup_timeout: seconds to wait for the server to answer before
        :class:`PasswordGrantServerError` is raised (with the server's output).
    :param workdir: directory for the database, state file and log; default is
        a fresh temporary directory, removed by :meth:`close`.
    :param port: TCP port for the first start; default 0 lets the OS choose a
        free one (no race between picking and binding).
    """

    def __init__(self, *, startup_timeout=30.0, workdir=None, port=0):
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(
            tempfile.mkdtemp(prefix="ferry-ropc-peer-") if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "oauth.sqlite3"
        self.state_path = self.workdir / "state.json"
        self.log_path = self.workdir / "server.log"
        self._requested_port = port
        self._proc = None
        self._log_file = None
        self._state = None
        #: wall-clock seconds of the last start(), from spawn to a successful /healthz
        self.startup_seconds = None

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        """Spawn the server and wait until it answers; return ``self``.

        The first call uses the ``port`` given to the constructor (default:
        any free port); later calls reuse the port and database of the first.
        """
        if self.running:
            raise PasswordGrantServerError(f"already running (pid {self._proc.pid})")
        port = self._state["port"] if self._state else self._requested_port
        try:
            self.state_path.unlink()
        except FileNotFoundError:
            pass

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("DJANGO_SETTINGS_MODULE", None)  # serve.py sets its own

        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"--- starting on port {port} ---\n".encode())
        self._log_file.flush()
        began = time.monotonic()
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                SERVE_MODULE,
                "--port",
                str(port),
                "--db",
                str(self.db_path),
                "--state",
                str(self.state_path),
            ],
            cwd=str(REPO_ROOT),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            state = self._wait_until_ready(began)
        except BaseException:
            self._terminate()
            raise
        self._state = state
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, timeout=10.0):
        """Terminate the server process (SIGTERM by PID, then SIGKILL) and wait for it.

        Afterwards connections to :attr:`token_url` are refused. Idempotent.
        """
        self._terminate(timeout)

    def restart(self):
        """:meth:`stop` then :meth:`start` (same port and database)."""
        self.stop()
        return self.start()

    def close(self):
        """Stop the server and delete the temporary directory if we created it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        # Last resort so a forgotten server does not outlive the test run.
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        log_file = getattr(self, "_log_file", None)
        if log_file is not None:
            log_file.close()

    @property
    def running(self):
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self):
        """PID of the current server process, or None when stopped."""
        return self._proc.pid if self.running else None

    # ------------------------------------------------------------------ details

    def _terminate(self, timeout=10.0):
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _wait_until_ready(self, began):
        deadline = began + self.startup_timeout
        pid = self._proc.pid
        last_error = "no state file yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PasswordGrantServerError(
                    f"password-grant peer exited with status {self._proc.returncode} "
                    f"before becoming ready.\n{self._output_tail()}"
                )
            state = self._read_state(pid)
            if state is not None:
                try:
                    with urllib.request.urlopen(state["health_url"], timeout=2) as resp:
                        health = json.load(resp)
                    if health.get("pid") == pid:
                        return state
                    last_error = f"/healthz answered from pid {health.get('pid')}, expected {pid}"
                except urllib.error.HTTPError as exc:
                    exc.close()
                    last_error = f"/healthz: HTTP {exc.code}"
                except (OSError, ValueError) as exc:  # URLError is an OSError
                    last_error = f"/healthz: {exc!r}"
            time.sleep(0.02)
        raise PasswordGrantServerError(
            f"password-grant peer (pid {pid}) did not become ready within "
            f"{self.startup_timeout:g}s ({last_error}).\n{self._output_tail()}"
        )

    def _read_state(self, pid):
        try:
            state = json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state if state.get("pid") == pid else None

    def _output_tail(self, limit=8000):
        if self._log_file is not None:
            self._log_file.flush()
        text = self.log_text()
        if len(text) > limit:
            text = "...\n" + text[-limit:]
        return f"--- server output ({self.log_path}) ---\n{text}"

    def log_text(self):
        """Everything the server has written to stdout/stderr (all starts)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ facts

    @property
    def state(self):
        """The JSON state file written by the server (a dict); see serve.py."""
        if self._state is None:
            raise PasswordGrantServerError("the server has not been started yet")
        return self._state

    @property
    def port(self):
        return self.state["port"]

    @property
    def base_url(self):
        """``http://127.0.0.1:PORT``"""
        return self.state["base_url"]

    @property
    def issuer(self):
        """``http://127.0.0.1:PORT/o`` (OIDC issuer)."""
        return self.state["issuer"]

    @property
    def token_url(self):
        """``http://127.0.0.1:PORT/o/token/``"""
        return self.state["token_url"]

    @property
    def userinfo_url(self):
        """``http://127.0.0.1:PORT/o/userinfo/``"""
        return self.state["userinfo_url"]

    @property
    def discovery_url(self):
        return self.state["discovery_url"]

    @property
    def lookup_url(self):
        """``http://127.0.0.1:PORT/api/users`` (``?email=...``; client-credentials token)."""
        return self.state["lookup_url"]

    @property
    def lookup_scope(self):
        """The scope the lookup needs: ``users.read``."""
        return self.state["lookup_scope"]

    @property
    def revoke_url(self):
        """``http://127.0.0.1:PORT/o/revoke_token/`` (RFC 7009)."""
        return self.state["revoke_url"]

    @property
    def client_id(self):
        return self.state["client_id"]

    @property
    def client_secret(self):
        """Plaintext secret (the database only holds its hash)."""
        return self.state["client_secret"]

    @property
    def password_only_client_id(self):
        """A second client, allowed the password grant but not the client-credentials grant."""
        return self.state["password_only_client_id"]

    @property
    def password_only_client_secret(self):
        return self.state["password_only_client_secret"]

    @property
    def scopes(self):
        """Scopes of user tokens: ``["email", "openid", "profile"]`` (see :attr:`lookup_scope`)."""
        return list(self.state["scopes"])

    @property
    def users(self):
        """``{email: password}`` for every seeded account, including inactive dave."""
        return {email: u["password"] for email, u in self.state["users"].items()}

    @property
    def active_users(self):
        """``{email: password}`` for accounts that can log in."""
        return {email: u["password"] for email, u in self.state["users"].items() if u["is_active"]}

    @property
    def inactive_users(self):
        """``{email: password}`` for accounts with ``is_active=False`` (refused by the server)."""
        return {
            email: u["password"] for email, u in self.state["users"].items() if not u["is_active"]
        }

    @property
    def profiles(self):
        """``{email: {...}}`` with ``sub``, ``email``, ``given_name``, ``family_name``,
        ``name``, ``is_active`` and ``password`` -- what userinfo should return."""
        return json.loads(json.dumps(self.state["users"]))

    def __repr__(self):
        where = self._state["base_url"] if self._state else "not started"
        status = f"pid {self.pid}" if self.running else "stopped"
        return f"<PasswordGrantServer {where} {status}>"
