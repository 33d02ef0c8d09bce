"""Settings of the peer; every per-run value comes from the environment that ``dot.py`` sets.

* ``FERRY_DOT_SECRET_KEY``: Django's secret key; ``FERRY_DOT_DB``: the SQLite file;
* ``FERRY_DOT_RSA_KEY``: the PEM of the RS256 signing key; ``FERRY_DOT_ISSUER``: the issuer;
* ``FERRY_DOT_ARGON2``: Ferry's argon2id parameters as JSON (see :mod:`dot_site.hashers`);
* ``FERRY_DOT_CLIENT_SECRET_HASHER``: ``sha256`` (as Ferry, the default) or ``default``.
"""

import os

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise ImproperlyConfigured(f"{name} is not set: start the peer with bench/peer/dot.py") from None


DEBUG = False
SECRET_KEY = _required("FERRY_DOT_SECRET_KEY")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
    "dot_site",
]
MIDDLEWARE = [  # what `django-admin startproject` writes
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "dot_site.urls"
WSGI_APPLICATION = "dot_site.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _required("FERRY_DOT_DB"),
        "CONN_MAX_AGE": 600,
        "OPTIONS": {  # Ferry's SQLite pragmas (models/database.py); foreign keys are Django's default
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 15,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "dot_site.hashers.BenchArgon2PasswordHasher",
    "dot_site.hashers.ClientSecretSHA256Hasher",
]
LOGIN_URL = "/accounts/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

_SECRET_HASHERS = {"sha256": "sha256_secret", "default": "default"}
_secret_hasher = os.environ.get("FERRY_DOT_CLIENT_SECRET_HASHER", "sha256")
if _secret_hasher not in _SECRET_HASHERS:
    raise ImproperlyConfigured(f"FERRY_DOT_CLIENT_SECRET_HASHER={_secret_hasher!r}: sha256 or default")

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _required("FERRY_DOT_RSA_KEY"),
    "OIDC_ISS_ENDPOINT": _required("FERRY_DOT_ISSUER"),
    "PKCE_REQUIRED": True,
    "SCOPES": {"openid": "OpenID Connect", "email": "Email address", "profile": "Name"},
    "DEFAULT_SCOPES": ["openid"],
    "OAUTH2_VALIDATOR_CLASS": "dot_site.oidc.BenchValidator",
    "CLIENT_SECRET_HASHER": _SECRET_HASHERS[_secret_hasher],
}
