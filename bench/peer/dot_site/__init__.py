"""django-oauth-toolkit as the bench's peer OpenID Provider: a minimal, production-like project.

It runs only in the scratch venv that ``bench/peer/dot.py`` makes (pinned versions from the
registry), under gunicorn with the same worker count and class as Ferry. The choices, so that
neither side gets a shortcut:

* **Passwords**: ``PASSWORD_HASHERS`` starts with :class:`dot_site.hashers.BenchArgon2PasswordHasher`,
  Django's own argon2id hasher with exactly the parameters Ferry's hasher uses (memory, time,
  parallelism, hash length), read from ``FERRY_DOT_ARGON2``: one verify per sign-in costs the
  same on both sides. Django's salt is 22 characters where Ferry's is 16 bytes: no measurable
  difference to a verify.
* **Client secret**: Ferry stores a SHA-256 of an app's secret and compares it in constant time;
  so does the peer (:class:`dot_site.hashers.ClientSecretSHA256Hasher` as DOT's
  ``CLIENT_SECRET_HASHER``). DOT's out-of-the-box default hashes the secret with the first
  password hasher, which would be a second argon2 verify on every token request;
  ``FERRY_DOT_CLIENT_SECRET_HASHER=default`` measures that instead.
* **Database**: SQLite in a temporary folder (``FERRY_DOT_DB``) with the pragmas Ferry sets (WAL,
  ``synchronous=NORMAL``, a 15 s busy timeout, foreign keys, IMMEDIATE write transactions) and
  persistent connections (``CONN_MAX_AGE``), Django's counterpart of Ferry's connection pool.
* **Everything else is Django's and DOT's default**: ``DEBUG = False``, the middleware of
  ``startproject`` (security, sessions, common, CSRF, auth, messages, clickjacking), sessions in
  the database, ``LoginView`` at ``/accounts/login/`` with a small template (cached by Django's
  template loader, as always with ``DEBUG`` off), last-login updates, DOT's Grant, AccessToken,
  RefreshToken and IDToken rows, OIDC with an RS256 key (``FERRY_DOT_RSA_KEY``, 2048 bits as
  Ferry's), PKCE required, one confidential app with ``skip_authorization``.
* **Claims**: the same scopes as Ferry's bench (``openid email profile``); the ID token carries
  ``email``, ``email_verified`` and ``given_name`` as Ferry's does (:mod:`dot_site.oidc`).
"""
