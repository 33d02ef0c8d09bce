"""Make the peer's database: ``python -m dot_site.prepare < spec.json`` (in the peer's venv).

The spec (JSON on stdin) names the accounts and the app::

    {"accounts": [{"username": "...", "password": "...", "given_name": "..."}],
     "client": {"client_id": "...", "client_secret": "...", "redirect_uri": "..."}}

It migrates, creates the users (their passwords hashed by the peer's argon2id hasher) and one
confidential app (authorization code, RS256, ``skip_authorization``), then prints
``{"subs": {username: sub}, "hasher": {...}}`` on stdout: the ``sub`` each ID token must carry
and the parameters the stored hashes really have.
"""

import json
import os
import sys

import django


def main() -> None:
    """Migrate, create the users and the app, print the subs and the hash parameters."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dot_site.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import identify_hasher, make_password
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    spec = json.load(sys.stdin)
    call_command("migrate", verbosity=0, interactive=False)
    user_model = get_user_model()
    users = user_model.objects.bulk_create([
        user_model(username=a["username"], email=a["username"], first_name=a["given_name"],
                   password=make_password(a["password"]))
        for a in spec["accounts"]
    ])
    client = spec["client"]
    application_model = get_application_model()
    application_model.objects.create(
        name="Bench", client_id=client["client_id"], client_secret=client["client_secret"],
        redirect_uris=client["redirect_uri"], client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_AUTHORIZATION_CODE,
        algorithm=application_model.RS256_ALGORITHM, skip_authorization=True,
    )
    stored = user_model.objects.get(pk=users[0].pk).password
    params = identify_hasher(stored).decode(stored)["params"]
    secret = application_model.objects.get(client_id=client["client_id"]).client_secret
    json.dump({
        "subs": {u.username: str(u.pk) for u in user_model.objects.all()},
        "hasher": {"algorithm": stored.split("$", 1)[0], "time_cost": params.time_cost,
                   "memory_cost": params.memory_cost, "parallelism": params.parallelism,
                   "hash_len": params.hash_len, "type": params.type.name},
        "client_secret_hasher": secret.split("$", 1)[0],
    }, sys.stdout)


if __name__ == "__main__":
    main()
