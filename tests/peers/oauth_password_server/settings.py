"""Django settings for the password-grant peer server.

Not meant to be used directly: :mod:`.serve` generates/loads the OIDC signing
key, puts the per-run values into the environment variables below and then
points ``DJANGO_SETTINGS_MODULE`` here.

* ``FERRY_OAUTH_PEER_DB``: path of the SQLite database file.
* ``FERRY_OAUTH_PEER_RSA_KEY``: PEM of the RSA private key used for OIDC.
"""

import os
import secrets

from django.core.exceptions import ImproperlyConfigured

from .accounts import SCOPES


def _required(name):
    try:
        return os.environ[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"{name} is not set; start the peer with "
            "`python -m tests.peers.oauth_password_server.serve`"
        ) from None


DEBUG = False
# A throw-away server: nothing signed with this key outlives the process.
SECRET_KEY = secrets.token_urlsafe(50)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "oauth2_provider",
]
# The token and userinfo endpoints are csrf-exempt API views and need no
# sessions, messages or authentication middleware.
MIDDLEWARE = []
ROOT_URLCONF = "tests.peers.oauth_password_server.urls"
TEMPLATES = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _required("FERRY_OAUTH_PEER_DB"),
        "OPTIONS": {
            # The server is threaded; token requests write (AccessToken and
            # RefreshToken rows). WAL plus IMMEDIATE transactions plus a generous
            # busy timeout keep concurrent logins from failing with
            # "database is locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Speed, not security: the default PBKDF2 hasher runs hundreds of thousands of
# iterations (hundreds of ms of CPU) for every password check -- on each login,
# on each failed login (ModelBackend hashes even for unknown users, against
# timing attacks) and, because django-oauth-toolkit hashes client secrets with
# the first configured hasher (CLIENT_SECRET_HASHER="default"), on every client
# authentication as well. MD5 keeps a password-grant round trip in the low ms.
# Never use this outside tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _required("FERRY_OAUTH_PEER_RSA_KEY"),
    "OAUTH2_VALIDATOR_CLASS": "tests.peers.oauth_password_server.validators.FerryPeerValidator",
    "SCOPES": dict(SCOPES),
    # A token request without a `scope` parameter is granted all of SCOPES.
    "DEFAULT_SCOPES": ["__all__"],
    # Must stay False: True makes DOT reject the password grant outright (RFC 9700
    # section 2.4). While False, DOT emits a DeprecationWarning on every password
    # grant; serve.py filters that one warning.
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # DOT also logs the RFC 9700 password-grant nag at WARNING on every grant.
        "drop_password_grant_nag": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: (
                "resource owner password credentials grant is discouraged"
                not in record.getMessage()
            ),
        },
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "filters": ["drop_password_grant_nag"]},
    },
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "WARNING"},
        "oauth2_provider": {"handlers": ["stderr"], "level": "INFO"},
    },
}
