"""Entry point: run the password-grant peer server on 127.0.0.1.

    python -m tests.peers.oauth_password_server.serve --port N --db PATH --state PATH

Steps: load (or generate with ``cryptography`` and keep next to the database)
the RSA key for OpenID Connect, configure Django, run migrations, seed the OAuth
clients and the users from :mod:`.accounts` (only rows that are missing, so a
restart on the same database keeps whatever is there), bind a threaded
werkzeug WSGI server, write the JSON state file, then serve until SIGTERM or
SIGINT.

``--port 0`` lets the OS pick a free port; the state file has the real one.
The state file is written atomically and only once the socket is listening,
so its appearance means "connections will be accepted".
"""

import argparse
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from . import accounts

HOST = "127.0.0.1"


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.peers.oauth_password_server.serve")
    parser.add_argument(
        "--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--db", type=Path, required=True, help="SQLite database file (created if missing)"
    )
    parser.add_argument(
        "--state", type=Path, required=True, help="JSON state file to write once listening"
    )
    return parser.parse_args(argv)


def _load_or_create_rsa_key(path):
    """PEM of an RSA private key; generated on first start, reused on restarts.

    Reusing it keeps the JWKS stable across an outage, like a real IdP.
    """
    if path.exists():
        return path.read_text()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return pem


def _configure_django(db_path, rsa_pem):
    os.environ["FERRY_OAUTH_PEER_DB"] = str(db_path)
    os.environ["FERRY_OAUTH_PEER_RSA_KEY"] = rsa_pem
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.peers.oauth_password_server.settings"
    # DOT warns (DeprecationWarning + log line) on every password grant while
    # COMPLIANT_BCP_RFC9700_PASSWORD_GRANT is False. The password grant is the
    # point of this server, so silence exactly that warning -- it would otherwise
    # turn into HTTP 500s if PYTHONWARNINGS=error is inherited from the test run.
    warnings.filterwarnings(
        "ignore",
        message=r"The OAuth 2\.0 resource owner password credentials grant is discouraged",
        category=DeprecationWarning,
    )
    import django

    django.setup()


def _seed():
    """Create the OAuth client and users that are missing; never touch existing rows."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    User = get_user_model()

    clients = (
        (accounts.CLIENT_ID, accounts.CLIENT_SECRET, accounts.CLIENT_NAME),
        (accounts.PASSWORD_ONLY_CLIENT_ID, accounts.PASSWORD_ONLY_CLIENT_SECRET,
         accounts.PASSWORD_ONLY_CLIENT_NAME),
    )
    with transaction.atomic():
        for client_id, secret, name in clients:
            if Application.objects.filter(client_id=client_id).exists():
                continue
            # The client-credentials grant of CLIENT_CREDENTIALS_CLIENTS is granted by the
            # validator: DOT's Application holds a single grant type.
            Application.objects.create(
                name=name,
                client_id=client_id,
                client_secret=secret,  # hashed by DOT on save
                hash_client_secret=True,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_PASSWORD,
                redirect_uris="",
                skip_authorization=True,
            )
        for spec in accounts.USERS:
            if User.objects.filter(username=spec["email"]).exists():
                continue
            # Not User.objects.create_user(): its normalize_email() lower-cases the
            # domain, and we want email == username, byte for byte.
            user = User(
                username=spec["email"],
                email=spec["email"],
                first_name=spec["given_name"],
                last_name=spec["family_name"],
                is_active=spec["is_active"],
            )
            user.set_password(spec["password"])
            user.save()

    users = {}
    for spec in accounts.USERS:
        user = User.objects.get(username=spec["email"])
        users[spec["email"]] = {
            "password": spec["password"],
            "sub": str(user.pk),
            "email": user.email,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "name": user.get_full_name(),
            "is_active": user.is_active,
        }
    return users


def _write_json_atomically(path, data):
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def main(argv=None):
    args = _parse_args(argv)
    t0 = time.monotonic()
    timings = {}

    db_path = args.db.resolve()
    state_path = args.state.resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    key_path = db_path.with_name(db_path.name + ".oidc-rsa.pem")

    t = time.monotonic()
    rsa_pem = _load_or_create_rsa_key(key_path)
    timings["rsa_key"] = time.monotonic() - t

    t = time.monotonic()
    _configure_django(db_path, rsa_pem)
    timings["django_setup"] = time.monotonic() - t

    from django.core.management import call_command

    t = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    timings["migrate"] = time.monotonic() - t

    t = time.monotonic()
    users = _seed()
    timings["seed"] = time.monotonic() - t

    from django.core.wsgi import get_wsgi_application
    from werkzeug.serving import make_server

    t = time.monotonic()
    server = make_server(HOST, args.port, get_wsgi_application(), threaded=True)
    port = server.server_port
    timings["bind"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0

    base_url = f"http://{HOST}:{port}"
    state = {
        "pid": os.getpid(),
        "host": HOST,
        "port": port,
        "base_url": base_url,
        "issuer": f"{base_url}/o",
        "token_url": f"{base_url}/o/token/",
        "userinfo_url": f"{base_url}/o/userinfo/",
        "discovery_url": f"{base_url}/o/.well-known/openid-configuration",
        "jwks_url": f"{base_url}/o/.well-known/jwks.json",
        "revoke_url": f"{base_url}/o/revoke_token/",
        "introspect_url": f"{base_url}/o/introspect/",
        "health_url": f"{base_url}/healthz",
        "lookup_url": f"{base_url}/api/users",
        "client_id": accounts.CLIENT_ID,
        "client_secret": accounts.CLIENT_SECRET,
        "password_only_client_id": accounts.PASSWORD_ONLY_CLIENT_ID,
        "password_only_client_secret": accounts.PASSWORD_ONLY_CLIENT_SECRET,
        "scopes": sorted(accounts.USER_SCOPES),
        "lookup_scope": accounts.LOOKUP_SCOPE,
        "users": users,
        "db_path": str(db_path),
        "rsa_key_path": str(key_path),
        "startup_timings": {k: round(v, 4) for k, v in timings.items()},
    }

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    _write_json_atomically(state_path, state)
    print(
        f"password-grant peer listening on {base_url} (pid {os.getpid()}, "
        f"ready in {timings['total']:.2f}s)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        from django.db import connections

        connections.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
