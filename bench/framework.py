"""Ferry's own CPU per password sign-in, the hash left out: what every optimisation is against.

No HTTP server and no load: one throw-away Ferry (as ``signin.py`` makes it) signs its
returning users in through Flask's test client, the whole code flow (``/authorize``, which
answers with the sign-in page; ``POST /login``; ``POST /token``), one after another. The app's
CPU (``time.process_time`` around the WSGI call) is counted per request path, the argon2id
verify is timed on its own and taken out, and so are the statements sent to the database. The
figure is the lowest of ``--batches`` batches, since a shared machine only ever adds. It leaves
out what ``signin.py`` adds on top: the HTTP server (gunicorn's parsing, the sockets) and CPU
caches shared with the load client. See bench/README.md, "Where the time goes".

    .venv/bin/python bench/framework.py --signins 100 --batches 5 [--database postgres]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import sys
import time
from contextlib import ExitStack
from urllib.parse import parse_qs, urlsplit

from ferry_server import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Account, create_accounts, progress
from load_client import hidden_fields
from measure import throwaway_ferry

PATHS = ("/authorize", "/login", "/token")


class Meter:
    """CPU of the app per request path, of the argon2 verify, and statements sent."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(PATHS, 0.0)
        self.argon2 = 0.0
        self.statements = 0

    def app(self, inner):
        def timed(environ, start_response):
            began = time.process_time()
            try:
                return list(inner(environ, start_response))
            finally:
                path = environ["PATH_INFO"]
                self.cpu[path] = self.cpu.get(path, 0.0) + time.process_time() - began
        return timed

    def around(self, function, attribute: str):
        def counted(*args, **kwargs):
            began = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                if attribute == "argon2":
                    self.argon2 += time.process_time() - began
                else:
                    self.statements += 1
        return counted


def sign_in(client, base: str, account: Account) -> None:
    """One returning user's code flow; raise on any answer a browser would not get."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    page = client.get("/authorize", base_url=base, query_string={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile", "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(12), "code_challenge": challenge.decode(),
        "code_challenge_method": "S256"})
    if page.status_code != 200:
        raise SystemExit(f"GET /authorize -> {page.status_code}")
    form = {**hidden_fields(page.get_data(as_text=True)), "identifier": account.email,
            "password": account.password}
    answer = client.post("/login", base_url=base, data=form)
    if answer.status_code != 303:
        raise SystemExit(f"POST /login -> {answer.status_code}")
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    tokens = client.post("/token", base_url=base, headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier})
    if tokens.status_code != 200 or "id_token" not in tokens.get_json():
        raise SystemExit(f"POST /token -> {tokens.status_code}")


def run(args: argparse.Namespace, stack: ExitStack) -> list[dict]:
    """The figures of each batch."""
    _instance, port, environ = throwaway_ferry(stack, "ferry-framework-", args.database)
    accounts, _params = create_accounts(environ, args.users)
    import peewee

    import authenticators.password as password
    from app import create_app

    app = create_app()
    meter = Meter()
    app.wsgi_app = meter.app(app.wsgi_app)
    password.verify_hash = meter.around(password.verify_hash, "argon2")
    peewee.Database.execute_sql = meter.around(peewee.Database.execute_sql, "statements")
    base = f"http://127.0.0.1:{port}"
    for number in range(20):  # warm: templates compiled, the app and keys read
        sign_in(app.test_client(), base, accounts[number % len(accounts)])
    batches = []
    for batch in range(args.batches):
        before = (dict(meter.cpu), meter.argon2, meter.statements)
        for number in range(args.signins):
            sign_in(app.test_client(), base, accounts[(batch + number) % len(accounts)])
        per = {path: 1000 * (meter.cpu[path] - before[0][path]) / args.signins for path in PATHS}
        argon2 = 1000 * (meter.argon2 - before[1]) / args.signins
        batches.append({**per, "argon2": argon2, "framework": sum(per.values()) - argon2,
                        "statements": (meter.statements - before[2]) / args.signins})
        progress(f"batch {batch + 1}/{args.batches}: {batches[-1]['framework']:.2f} ms besides the hash")
    return batches


def main(argv: list[str] | None = None) -> int:
    """Run the batches and print the lowest figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signins", type=int, default=100, help="sign-ins per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgres"))
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        batches = run(args, stack)
    best = min(batches, key=lambda figures: figures["framework"])
    every = " ".join(f"{figures['framework']:.2f}" for figures in batches)
    rows = [
        (f"Ferry CPU ms per sign-in besides the hash ({args.database}), lowest batch",
         f"{best['framework']:.2f}  (all: {every})"),
        ("  GET /authorize (the sign-in page)", f"{best['/authorize']:.2f}"),
        ("  POST /login, the argon2id verify left out", f"{best['/login'] - best['argon2']:.2f}"),
        ("  POST /token (RS256 ID token)", f"{best['/token']:.2f}"),
        ("argon2id verify, CPU ms", f"{best['argon2']:.2f}"),
        ("CPU ratio without an HTTP server (argon2 / all)",
         f"{best['argon2'] / (best['framework'] + best['argon2']):.3f}"),
        ("statements per sign-in", f"{best['statements']:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows))  # noqa: T201 - the report
    return 0


if __name__ == "__main__":
    sys.exit(main())
