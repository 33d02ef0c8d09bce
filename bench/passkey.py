"""Passkey sign-ins through Ferry (options, then verification), against raw ECDSA P-256.

One run on one machine measures:

* **Ferry**: ``gunicorn -w 2 'app:create_app()'`` (as in signin.py) on a throw-away instance whose
  default journey is ``passkey-sign-in``, holding N users with one passkey each, written directly
  to the database; the benchmark keeps each passkey's P-256 private key, as an authenticator
  would. Client threads each play a fresh browser per sign-in: ``GET /login`` (step 1, the
  options: a challenge, no allowCredentials), sign as the authenticator does, ``POST /login``
  (step 2, the verification), which must answer 303 to the account page. The server's time for
  each step comes from gunicorn's own request timer, written to its access log.
* **ECDSA P-256 alone** (``cryptography``), one process per core: verifies half before and half
  after the Ferry window (the server's crypto floor), and signatures before it (the client's
  share of each sign-in, to subtract).
* **argon2id alone** with Ferry's password parameters, after the window, so a passkey sign-in can
  be set against one password check; and the last ``signin.py`` result, if there is one.

See bench/README.md for how to read the figures.

    .venv/bin/python bench/passkey.py --seconds 15
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urljoin

import cbor2
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from ferry_server import ROOT, argon2_params, progress
from load_client import Load, Outcome, SignInFailed, hidden_fields
from measure import (
    ARGON2_NAMES,
    RESULTS,
    argon2_verifier,
    arguments,
    baseline,
    before_and_after,
    measure_ferry,
    named,
    percentiles,
    report,
    run_and_report,
    run_setup,
    start_ferry,
    throwaway_ferry,
    windows,
    worker_options,
)

JOURNEY = "passkey-sign-in"
#: Names each sign-in in gunicorn's access log, so its two requests are found again.
TAG_HEADER = "X-Bench-Signin"
ACCESS_FORMAT = "%({x-bench-signin}i)s %(m)s %(s)s %(D)s"  # D: the request's microseconds
UP, UV = 0x01, 0x04  # authenticatorData flags: user present, user verified
ES256 = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the passkeys ------------------------------------------------------------------------
@dataclass
class Passkey:
    """One user's discoverable credential. One client thread uses it, so its counter needs no lock."""

    user_id: str
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    counter: int = 0

    def cose_public_key(self) -> bytes:
        """The COSE_Key an authenticator reports at registration: EC2 (1), ES256 (-7), P-256 (1)."""
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def assertion(self, options: dict, origin: str) -> str:
        """The answer to ``navigator.credentials.get(options)``, as ferry-webauthn.js posts it."""
        self.counter += 1
        client_data = json.dumps({"type": "webauthn.get", "challenge": options["challenge"],
                                  "origin": origin, "crossOrigin": False}, separators=(",", ":")).encode()
        authenticator_data = (hashlib.sha256(options["rpId"].encode()).digest()
                              + bytes([UP | UV]) + self.counter.to_bytes(4, "big"))
        signature = self.key.sign(authenticator_data + hashlib.sha256(client_data).digest(), ES256)
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(authenticator_data),
                         "signature": b64url(signature), "userHandle": b64url(self.user_id.encode())},
        })


def create_passkey_users(environ: dict[str, str], count: int) -> tuple[list[Passkey], dict, dict]:
    """Make ``count`` users with one passkey each; return them, Ferry's argon2 and WebAuthn settings."""
    os.environ.update(environ)
    sys.path.insert(0, str(ROOT))
    import authenticators
    from app import create_app
    from models import PasskeyCredential, User, db

    app = create_app()
    passkeys = []
    with app.app_context(), db.connection_context():
        for number in range(count):
            user = User.create(email=f"bench-{number:04d}@example.com", email_verified=True,
                               given_name="Bench")
            passkey = Passkey(user.id, os.urandom(16), ec.generate_private_key(ec.SECP256R1()))
            PasskeyCredential.create(user=user, credential_id=b64url(passkey.credential_id),
                                     public_key=passkey.cose_public_key(), transports=["internal"])
            passkeys.append(passkey)
        argon2 = argon2_params(authenticators.get("password").hasher)
    db.close()
    webauthn = {key.lower(): app.config[key] for key in
                ("DEFAULT_JOURNEY", "WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS", "WEBAUTHN_USER_VERIFICATION")}
    return passkeys, argon2, webauthn


# -- the load client -----------------------------------------------------------------------
def _expect(response: requests.Response, status: int, step: str) -> requests.Response:
    if response.status_code != status:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
        raise SignInFailed(f"{step} -> {response.status_code}", text[:600])
    return response


def passkey_sign_in(base: str, passkey: Passkey, tag: str) -> dict:
    """One passkey sign-in in a fresh browser; returns its figures, raises SignInFailed.

    The figures: ``tag``, client-observed seconds of each step (``steps``: "options" and
    "verify"), and ``signing_cpu``, this thread's CPU seconds building and signing the assertion.
    """
    timeout, headers, steps = (5, 60), {TAG_HEADER: tag}, {}
    with requests.Session() as http:
        began = time.perf_counter()
        page = _expect(http.get(base + "/login", headers=headers, timeout=timeout), 200, "GET /login")
        steps["options"] = time.perf_counter() - began
        found = re.search(r'data-webauthn-options="([^"]*)"', page.text)
        if not found:
            raise SignInFailed("GET /login -> no passkey options", page.text[:300])
        form, options = hidden_fields(page.text), json.loads(html.unescape(found.group(1)))
        cpu = time.thread_time()
        form["credential"] = passkey.assertion(options, origin=base)
        signing = time.thread_time() - cpu
        began = time.perf_counter()
        response = http.post(base + "/login", data=form, headers=headers, allow_redirects=False,
                             timeout=timeout)
        steps["verify"] = time.perf_counter() - began
        _expect(response, 303, "POST /login")
        location = urljoin(response.url, response.headers.get("Location", ""))
        if location != base + "/" or not http.cookies:
            raise SignInFailed("POST /login -> not the account page", location[:300])
    return {"tag": tag, "steps": steps, "signing_cpu": signing}


class PasskeyLoad(Load):
    """Client threads signing in with passkeys; thread n owns passkeys n::threads."""

    def __init__(self, base: str, passkeys: list[Passkey], threads: int) -> None:
        super().__init__(threads)
        self.base, self.passkeys = base, passkeys

    def sign_in(self, number: int, turn: int) -> dict:
        # Each passkey has one thread, so its counter only grows, as on a real authenticator.
        mine = self.passkeys[number::self.threads]
        return passkey_sign_in(self.base, mine[turn % len(mine)], f"{number}.{turn}")


# -- raw ECDSA P-256 ---------------------------------------------------------------------------
def ecdsa(operation: str) -> Callable[[], object]:
    """For ``measure.baseline``: an ECDSA P-256 ``operation`` ("verify" or "sign")."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    # What an assertion signs: authenticatorData (37 bytes) || SHA-256(clientDataJSON).
    message = os.urandom(37) + hashlib.sha256(os.urandom(150)).digest()
    signature = key.sign(message, ES256)
    if operation == "verify":
        return lambda: public.verify(signature, message, ES256)
    return lambda: key.sign(message, ES256)


# -- the run -------------------------------------------------------------------------------
def server_times(access_log: Path, tags: set[str]) -> dict[str, list[float]]:
    """Gunicorn's seconds for each step of the sign-ins named by ``tags``."""
    steps: dict[str, list[float]] = {"options": [], "verify": []}
    for line in access_log.read_text(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] in tags:
            steps["options" if fields[1] == "GET" else "verify"].append(int(fields[3]) / 1e6)
    return steps


def _figures(good: list[Outcome], access_log: Path) -> dict:
    """The passkey figures of the sign-ins that succeeded in the window: signing CPU, per-step times."""
    server = server_times(access_log, {o.figures["tag"] for o in good})
    return {
        "client_signing_cpu_ms_per_signin":
            1000 * sum(o.figures["signing_cpu"] for o in good) / max(len(good), 1),
        "server_ms": {step: percentiles(times) for step, times in server.items()},
        "server_requests_matched": {step: len(times) for step, times in server.items()},
        "client_ms": {"options": percentiles([o.figures["steps"]["options"] for o in good]),
                      "verify": percentiles([o.figures["steps"]["verify"] for o in good]),
                      "signin": percentiles([o.seconds for o in good])},
    }


def password_bench(path: Path) -> dict | None:
    """The last signin.py figures (another run), if there are any and none of its sign-ins failed."""
    try:
        last = json.loads(path.read_text(encoding="utf-8"))
        if last["ferry"]["failures"] or not last["ferry"]["signins"]:
            progress(f"{path.name}: its sign-ins failed; not compared")
            return None
        return {"signins_per_s": last["ferry"]["signins_per_s"],
                "ferry_cpu_ms_per_signin": last["ferry"]["ferry_cpu_ms_per_signin"],
                "commit": last["setup"].get("commit"), "when": last["setup"].get("when")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(args: argparse.Namespace, stack: ExitStack) -> dict:
    instance, port, environ = throwaway_ferry(stack, "ferry-bench-passkey-", args.database,
                                              FERRY_DEFAULT_JOURNEY=JOURNEY)
    progress(f"instance {instance}; creating {args.users} users with a passkey each")
    passkeys, argon2_settings, webauthn = create_passkey_users(environ, args.users)
    progress(f"WebAuthn {webauthn}")

    cores = os.cpu_count() or 2
    half = args.seconds / 2
    verify_op, sign_op = partial(ecdsa, "verify"), partial(ecdsa, "sign")
    progress(f"ECDSA P-256 verifies, first half: {half:.1f} s in {cores} processes")
    verify_before = baseline(verify_op, half, cores, stack, batch=50)
    progress(f"ECDSA P-256 signatures: {args.seconds / 4:.1f} s in {cores} processes")
    sign = baseline(sign_op, args.seconds / 4, cores, stack, batch=50)

    access_log = instance / "access.log"
    ferry = start_ferry(
        stack, environ, port, args.workers, instance,
        keep={"passkey-gunicorn.log": instance / "gunicorn.log", "passkey-access.log": access_log},
        options=[*worker_options(args), "--access-logfile", str(access_log),
                 "--access-logformat", ACCESS_FORMAT])
    load = PasskeyLoad(ferry.base, passkeys, args.threads)
    stack.callback(load.stop.set)
    measured = measure_ferry(ferry, load, args.warmup, args.seconds,
                             partial(_figures, access_log=access_log))

    progress(f"ECDSA P-256 verifies, second half: {half:.1f} s in {cores} processes")
    verify_after = baseline(verify_op, half, cores, stack, batch=50)
    progress(f"argon2id {argon2_settings}: {args.seconds / 4:.1f} s in {cores} processes")
    argon2 = named(baseline(partial(argon2_verifier, argon2_settings), args.seconds / 4, cores, stack),
                   ARGON2_NAMES)

    verify = named(before_and_after(verify_before, verify_after), {"operations": "verifies"})
    signed_in = measured["signins"] > 0
    return {
        "ferry": measured, "ecdsa_verify": verify, "ecdsa_sign": sign, "argon2": argon2,
        "password_bench": password_bench(args.signin_json),
        "throughput_ratio": measured["signins_per_s"] / verify["per_s"],
        "cpu_ratio": verify["cpu_ms"] / measured["ferry_cpu_ms_per_signin"] if signed_in else None,
        "argon2_per_passkey_cpu": argon2["cpu_ms_per_verify"] / measured["ferry_cpu_ms_per_signin"]
        if signed_in else None,
        "setup": {"webauthn": webauthn, "argon2": argon2_settings, **run_setup(args, cores)},
    }


def _ms(stats: dict) -> str:
    return " / ".join("n/a" if stats[q] is None else f"{stats[q]:.1f}" for q in ("p50", "p95", "p99"))


def table(result: dict) -> str:
    ferry, verify, sign = result["ferry"], result["ecdsa_verify"], result["ecdsa_sign"]
    argon2 = result["argon2"]
    cores = result["setup"]["cores"]
    rows = [
        ("passkey sign-ins/s (GET options + POST verify)", f"{ferry['signins_per_s']:.1f}"),
        (f"ECDSA P-256 verifies/s (raw, {cores} processes)",
         f"{verify['per_s']:.0f}  (before {verify['per_s_before']:.0f}, after {verify['per_s_after']:.0f})"),
        ("throughput ratio (sign-ins / ECDSA verifies)", f"{result['throughput_ratio']:.4f}"),
        ("Ferry CPU ms per sign-in (all workers)", f"{ferry['ferry_cpu_ms_per_signin']:.2f}"),
        ("ECDSA P-256 CPU ms per verify", f"{verify['cpu_ms']:.3f}"),
        ("CPU ratio (ECDSA verify / Ferry per sign-in)",
         f"{result['cpu_ratio']:.3f}" if result["cpu_ratio"] else "n/a"),
        ("server ms, GET /login (options) p50/p95/p99", _ms(ferry["server_ms"]["options"])),
        ("server ms, POST /login (verify) p50/p95/p99", _ms(ferry["server_ms"]["verify"])),
        ("client-seen ms, options p50/p95/p99", _ms(ferry["client_ms"]["options"])),
        ("client-seen ms, verify p50/p95/p99", _ms(ferry["client_ms"]["verify"])),
        ("client-seen ms, whole sign-in p50/p95/p99", _ms(ferry["client_ms"]["signin"])),
        ("client CPU ms per sign-in (all / signing)",
         f"{ferry['client_cpu_ms_per_signin']:.2f} / {ferry['client_signing_cpu_ms_per_signin']:.3f}"),
        (f"ECDSA P-256 signatures/s (raw, {cores} processes)",
         f"{sign['per_s']:.0f}  ({sign['cpu_ms']:.3f} CPU ms each)"),
        (f"argon2id verifies/s (raw, {cores} processes)",
         f"{argon2['verifies_per_s']:.1f}  ({argon2['cpu_ms_per_verify']:.1f} CPU ms each)"),
        ("argon2id verify CPU / Ferry CPU per passkey sign-in",
         f"{result['argon2_per_passkey_cpu']:.2f}" if result["argon2_per_passkey_cpu"] else "n/a"),
    ]
    password = result["password_bench"]
    if password:
        rows.append((f"password sign-ins/s (signin.json, {password['when']}, another run)",
                     f"{password['signins_per_s']:.2f}  ({password['ferry_cpu_ms_per_signin']:.1f} "
                     f"Ferry CPU ms each)"))
    rows += [
        ("sign-ins / failures", f"{ferry['signins']} / {ferry['failures']}"),
        ("machine busy cores / steal, Ferry window",
         f"{ferry['machine_busy_cores']:.2f} / {ferry['machine_steal_pct']:.1f}%"),
        ("other processes' cores: Ferry / ECDSA / argon2 windows",
         f"{ferry['other_cpu_cores']:.2f} / {verify['other_cpu_cores_before']:.2f}, "
         f"{sign['other_cpu_cores']:.2f}, {verify['other_cpu_cores_after']:.2f} / "
         f"{argon2['other_cpu_cores']:.2f}"),
    ]
    lines = report(rows, ferry, [*windows("ECDSA verify", verify), *windows("ECDSA sign", sign),
                                 *windows("argon2", argon2)])
    if set(ferry["server_requests_matched"].values()) != {ferry["signins"]}:
        lines.append(f"  warning: gunicorn's access log holds {ferry['server_requests_matched']} "
                     f"requests for {ferry['signins']} sign-ins; the server times are incomplete")
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result: dict) -> str:
    ferry = result["ferry"]
    options, verify = ferry["server_ms"]["options"], ferry["server_ms"]["verify"]
    if not ferry["signins"]:
        return "summary: no passkey sign-in succeeded"
    line = (f"summary: {ferry['signins_per_s']:.1f} passkey sign-ins/s, server p99 options "
            f"{options['p99']:.1f} ms, verify {verify['p99']:.1f} ms; "
            f"{result['throughput_ratio']:.4f} of raw ECDSA verifies/s; the ECDSA verify is "
            f"{result['cpu_ratio']:.1%} of Ferry's {ferry['ferry_cpu_ms_per_signin']:.1f} CPU ms "
            "per sign-in; "
            f"one argon2id verify costs {result['argon2_per_passkey_cpu']:.1f}x a whole passkey sign-in; "
            f"client signing {ferry['client_signing_cpu_ms_per_signin']:.2f} ms of "
            f"{ferry['client_cpu_ms_per_signin']:.1f} client CPU ms per sign-in")
    password = result["password_bench"]
    if password and password["signins_per_s"]:
        line += (f"; {ferry['signins_per_s'] / password['signins_per_s']:.1f}x the password "
                 f"sign-ins/s of signin.json (another run, full code flow)")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "users with a passkey", "passkey.json")
    parser.add_argument("--signin-json", type=Path, default=RESULTS / "signin.json",
                        help="signin.py's figures to compare with, if present")
    args = parser.parse_args(argv)
    if args.users < args.threads:
        parser.error("--users must be at least --threads: each thread needs passkeys of its own")
    return run_and_report(args, run, table)


if __name__ == "__main__":
    sys.exit(main())
