"""django-oauth-toolkit (DOT) beside Ferry: its scratch venv, its gunicorn, its code-flow load.

Issue 16 compares Ferry's password sign-ins per second with DOT doing the same flow on the same
machine, in the same run, with the same argon2id parameters, worker count and load client.

* :func:`peer_venv`: a virtual environment of Ferry's own interpreter under ``bench/.peer-venv/``,
  installed from the registry with the exact versions of :data:`PINS` (``--no-deps``, then
  ``pip check``: nothing comes in unpinned) and reused while its stamp (the pins and the
  interpreter) matches.
* :func:`start_dot`: a temporary folder with the SQLite database made by ``dot_site.prepare``
  (migrations, the same accounts as Ferry's bench, one confidential app), then ``gunicorn -w N``
  of ``dot_site`` on a free loopback port; :class:`PeerGunicorn` reads its CPU from /proc as
  Ferry's does.
* :class:`DotCodeFlowLoad`: fresh browsers walking DOT's code flow, five requests where Ferry's
  takes four (DOT's login redirects back to ``/o/authorize/``, which then redirects to the app).
* :func:`measure_dot`: all of it, measured by ``measure.measure_ferry``; a peer that cannot be set
  up raises :class:`PeerSetupError` (the bench fails rather than report a number).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ferry_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    ROOT,
    Account,
    Gunicorn,
    free_port,
    progress,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from load_client import Load, SignInFailed, hidden_fields
from measure import RESULTS, measure_ferry, percentiles, worker_options

#: The peer's whole environment, dependencies included, installed with ``--no-deps``. Django 6
#: needs Python 3.12; the peer runs on Ferry's interpreter (3.11), so Django is the 5.2 LTS.
#: Packages Ferry also uses (argon2, cryptography, gunicorn...) are at Ferry's versions.
PINS = (
    "Django==5.2.20", "asgiref==3.13.0", "sqlparse==0.6.1",
    "django-oauth-toolkit==3.4.1", "oauthlib==4.0.1", "jwcrypto==1.6.1",
    "requests==2.34.2", "urllib3==2.8.0", "idna==3.20", "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3", "typing_extensions==4.16.0",
    "cryptography==50.0.2", "cffi==2.1.1", "pycparser==3.12",
    "argon2-cffi==25.1.0", "argon2-cffi-bindings==26.2.0",
    "gunicorn==27.0.1", "packaging==26.4",
)
VENV = ROOT / "bench" / ".peer-venv" / "dot"
SITE = Path(__file__).resolve().parent  # holds dot_site/, gunicorn's working directory
#: Requests of one DOT sign-in: authorize, login page, login, authorize again, token.
REQUESTS_PER_SIGNIN = 5


class PeerSetupError(RuntimeError):
    """The peer could not be installed, prepared or started: no figures may be reported."""


def _stamp() -> str:
    text = "\n".join((*PINS, sys.version, platform.machine()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run(argv: Sequence[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False,  # noqa: S603
                              timeout=900, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PeerSetupError(f"DOT peer: {what} failed: {error}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines()
                 if not line.startswith("WARNING: Location")]  # pip's local mirrors, absent
        tail = "\n".join(lines[-30:])
        raise PeerSetupError(f"DOT peer: {what} failed (exit {done.returncode}):\n{tail}")
    return done


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def peer_venv(venv: Path = VENV) -> Path:
    """The python of the peer's venv, made (or remade) from :data:`PINS` unless its stamp matches.

    Raises :class:`PeerSetupError` when the venv or an install fails, or ``pip check`` finds a
    dependency that is not pinned; a half-made venv is removed.
    """
    python, stamp = venv / "bin" / "python", venv / f".pins-{_stamp()}"
    if stamp.exists() and python.exists():
        progress(f"DOT peer: reusing {_shown(venv)}")
        return python
    progress(f"DOT peer: installing {len(PINS)} pinned packages into {_shown(venv)}")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Ferry's own interpreter (venv follows it to the base Python): the same CPython.
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        pins = venv / "pins.txt"
        pins.write_text("\n".join(PINS) + "\n", encoding="utf-8")
        _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-input", "--no-deps", "-r", str(pins)], "pip install of the pinned packages")
        _run([str(python), "-m", "pip", "check", "--disable-pip-version-check"],
             "pip check (a dependency is missing from PINS)")
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    stamp.touch()
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """What the peer's venv really holds (``pip freeze``), to record beside the figures."""
    frozen = _run([str(python), "-m", "pip", "freeze", "--disable-pip-version-check"], "pip freeze")
    versions = dict(line.split("==", 1) for line in frozen.stdout.split() if "==" in line)
    found = {_canonical(name): version for name, version in versions.items()}
    wanted = {_canonical(name): version for name, version in (pin.split("==") for pin in PINS)}
    if found != wanted:
        raise PeerSetupError(f"DOT peer: {_shown(python.parent.parent)} holds {sorted(found.items())}, "
                             f"not the pins {sorted(wanted.items())}; remove it to reinstall")
    return versions


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


class PeerGunicorn(Gunicorn):
    """The peer under gunicorn from its own venv; CPU, workers and stop as Ferry's :class:`Gunicorn`."""

    def __init__(self, python: Path, environ: dict[str, str], port: int, workers: int, log: Path,
                 options: Sequence[str] = ()) -> None:
        """``gunicorn -w workers dot_site.wsgi:application`` on 127.0.0.1:``port``."""
        self.port, self.log, self.workers = port, log, workers
        self.base = f"http://127.0.0.1:{port}"
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [str(python), "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--no-control-socket", *options, "dot_site.wsgi:application"],
            cwd=SITE, env=environ, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, session, timeout: float = 30.0) -> None:
        """Until DOT's discovery document answers and every worker runs; else PeerSetupError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerSetupError(f"DOT peer: gunicorn exited with {self.process.returncode}:\n"
                                     f"{self.tail()}")
            try:
                answered = session.get(self.base + "/o/.well-known/openid-configuration",
                                       timeout=2).ok
                if answered and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise PeerSetupError(f"DOT peer did not answer within {timeout:.0f} s:\n{self.tail()}")


def _peer_environ(folder: Path, port: int, params: dict, secret_hasher: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")}
    return {**keep, "DJANGO_SETTINGS_MODULE": "dot_site.settings",
            "FERRY_DOT_SECRET_KEY": secrets.token_urlsafe(50),
            "FERRY_DOT_DB": str(folder / "dot.sqlite3"), "FERRY_DOT_RSA_KEY": pem,
            "FERRY_DOT_ISSUER": f"http://127.0.0.1:{port}/o",
            "FERRY_DOT_ARGON2": json.dumps(params),
            "FERRY_DOT_CLIENT_SECRET_HASHER": secret_hasher}


def prepare(python: Path, environ: dict[str, str], accounts: list[Account], params: dict) -> dict:
    """Migrate and fill the peer's database (``dot_site.prepare``); its answer, checked.

    Raises :class:`PeerSetupError` if a user is missing or the stored hashes do not carry
    ``params`` (the comparison would not be like for like).
    """
    spec = {"accounts": [{"username": a.email, "password": a.password, "given_name": "Bench"}
                         for a in accounts],
            "client": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                       "redirect_uri": REDIRECT_URI}}
    done = _run([str(python), "-m", "dot_site.prepare"], "dot_site.prepare (migrate, users, app)",
                cwd=SITE, env=environ, input=json.dumps(spec))
    answer = json.loads(done.stdout)
    missing = [a.email for a in accounts if a.email not in answer["subs"]]
    hasher = answer["hasher"]
    wanted = {k: params[k] for k in ("time_cost", "memory_cost", "parallelism", "hash_len")}
    if missing or {k: hasher[k] for k in wanted} != wanted or hasher["type"] != "ID":
        raise PeerSetupError(f"DOT peer: database not as asked: missing users {missing[:3]}, "
                             f"hashes {hasher} where Ferry uses argon2id {wanted}")
    return answer


def start_dot(stack: ExitStack, workers: int, accounts: list[Account], params: dict,
              options: Sequence[str] = (), client_hasher: str = "sha256",
              log_name: str = "peer-dot-gunicorn.log") -> tuple[PeerGunicorn, dict]:
    """The peer set up and serving: its gunicorn (stopped at the end) and what prepare answered.

    ``client_hasher``: how DOT stores the app's secret, ``sha256`` (as Ferry) or ``default``
    (DOT's own default: the first password hasher, argon2id). Its log is copied to
    ``bench/results/log_name`` at the end. Raises :class:`PeerSetupError`.
    """
    python = peer_venv()
    folder = Path(tempfile.mkdtemp(prefix="ferry-bench-dot-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    port = free_port()
    environ = _peer_environ(folder, port, params, client_hasher)
    progress(f"DOT peer: preparing {folder} ({len(accounts)} users)")
    prepared = prepare(python, environ, accounts, params)
    prepared["versions"] = peer_versions(python)
    progress(f"starting DOT: gunicorn -w {workers} on 127.0.0.1:{port}")
    peer = PeerGunicorn(python, environ, port, workers, folder / "gunicorn.log", options=options)
    stack.callback(_keep_log, folder / "gunicorn.log", RESULTS / log_name)
    stack.callback(peer.stop)
    with requests.Session() as probe:
        peer.wait_ready(probe)
    return peer, prepared


def _keep_log(log: Path, target: Path) -> None:
    if log.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)


class DotBrowser:
    """A fresh browser (cookie jar) signing one user in to the bench app through DOT."""

    def __init__(self, base: str, keys: KeySet) -> None:
        """``base``: the peer's origin; ``keys``: its JWKS."""
        self.base, self.keys = base, keys
        self.issuer = base + "/o"
        self.http = requests.Session()

    @staticmethod
    def _expect(response: requests.Response, status: int, step: str) -> requests.Response:
        if response.status_code != status:
            raise SignInFailed(f"{step} -> {response.status_code}", response.text[:600])
        return response

    def sign_in(self, account: Account, sub: str) -> None:
        """Walk DOT's code flow once; raise :class:`SignInFailed` at the first wrong answer."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        timeout, get = (5, 60), self.http.get
        response = self._expect(get(self.base + "/o/authorize/", params={
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile", "state": state, "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
        }, allow_redirects=False, timeout=timeout), 302, "GET /o/authorize/")
        login = urljoin(response.url, response.headers["Location"])
        if urlsplit(login).path != "/accounts/login/":
            raise SignInFailed("GET /o/authorize/ -> not to the login page", login[:300])
        page = self._expect(get(login, timeout=timeout), 200, "GET /accounts/login/")
        form = {**hidden_fields(page.text), "username": account.email, "password": account.password}
        response = self._expect(self.http.post(login, data=form, allow_redirects=False,
                                               timeout=timeout), 302, "POST /accounts/login/")
        authorize = urljoin(login, response.headers.get("Location", ""))
        if urlsplit(authorize).path != "/o/authorize/":
            raise SignInFailed("POST /accounts/login/ -> wrong redirect", authorize[:300])
        response = self._expect(get(authorize, allow_redirects=False, timeout=timeout), 302,
                                "GET /o/authorize/ (signed in)")
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != [state] \
                or not query.get("code"):
            raise SignInFailed("GET /o/authorize/ (signed in) -> wrong redirect", location[:300])
        response = self._expect(self.http.post(self.base + "/o/token/", data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
        }, auth=(CLIENT_ID, CLIENT_SECRET), timeout=timeout), 200, "POST /o/token/")
        answer = response.json()
        if not answer.get("access_token") or not answer.get("id_token"):
            raise SignInFailed("POST /o/token/ -> no tokens", response.text[:300])
        try:
            claims = jwt.decode(answer["id_token"], self.keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError) as error:
            raise SignInFailed("id_token -> not valid", f"{type(error).__name__}: {error}") from None
        expected = {"iss": self.issuer, "aud": CLIENT_ID, "nonce": nonce, "sub": sub}
        wrong = {k: claims.get(k) for k, v in expected.items() if claims.get(k) != v}
        if wrong:
            raise SignInFailed("id_token -> wrong claims", repr(wrong))

    def close(self) -> None:
        """Close the browser's connections."""
        self.http.close()


class DotCodeFlowLoad(Load):
    """Ferry's bench users, taken in turn as ``CodeFlowLoad`` does, each by a fresh :class:`DotBrowser`."""

    def __init__(self, base: str, keys: KeySet, accounts: list[Account], subs: dict[str, str],
                 threads: int) -> None:
        """``subs`` maps each account's email (the peer's username) to its ``sub`` at the peer."""
        super().__init__(threads)
        self.base, self.keys, self.accounts, self.subs = base, keys, accounts, subs

    def sign_in(self, number: int, turn: int) -> dict:
        """One sign-in of the thread's next account; raises ``SignInFailed``."""
        account = self.accounts[(number + turn * self.threads) % len(self.accounts)]
        browser = DotBrowser(self.base, self.keys)
        try:
            browser.sign_in(account, self.subs[account.email])
        finally:
            browser.close()
        return {}


def measure_dot(args, stack: ExitStack, accounts: list[Account], params: dict) -> dict:
    """Set the peer up, load it as Ferry is loaded, and return its figures (or raise).

    ``args`` are the bench's options (``workers``, ``worker_class``, ``worker_threads``,
    ``threads``, ``warmup``, ``seconds``; ``dot_client_secret_hasher`` if present); ``accounts``
    and ``params`` are what ``ferry_server.create_accounts`` returned. The result has the keys of
    ``measure.measure_ferry`` (its ``ferry_cpu_*`` figures are the peer's gunicorn master and
    workers here), ``latency_ms`` (p50/p95/p99/mean of a whole sign-in), ``requests_per_signin``
    and ``peer`` (versions, database, hashers). Raises :class:`PeerSetupError` when the peer
    cannot be set up; failed sign-ins are counted in ``failures``, as for Ferry.
    """
    if getattr(args, "database", "sqlite") != "sqlite":
        raise PeerSetupError(f"DOT peer: only SQLite is set up (asked for {args.database})")
    secret_hasher = getattr(args, "dot_client_secret_hasher", "sha256")
    peer, prepared = start_dot(stack, args.workers, accounts, params, worker_options(args),
                               secret_hasher)
    try:
        keys = KeySet.import_key_set(requests.get(peer.base + "/o/.well-known/jwks.json",
                                                  timeout=5).json())
    except (OSError, ValueError, JoseError) as error:
        raise PeerSetupError(f"DOT peer: no JWKS at {peer.base}/o/.well-known/jwks.json: "
                             f"{error}") from None
    load = DotCodeFlowLoad(peer.base, keys, accounts, prepared["subs"], args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(peer, load, args.warmup, args.seconds,
                             lambda good: {"latency_ms": percentiles([o.seconds for o in good])})
    return {**measured, "requests_per_signin": REQUESTS_PER_SIGNIN, "peer": {
        "name": "django-oauth-toolkit", "versions": prepared["versions"],
        "python": platform.python_version(), "database": "sqlite (WAL)",
        "password_hasher": prepared["hasher"], "client_secret_hasher": prepared["client_secret_hasher"],
        "gunicorn": {"workers": args.workers, "options": worker_options(args)},
    }}
