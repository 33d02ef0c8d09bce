"""A minimal Django + django-oauth-toolkit project serving the password grant.

Run it with ``python -m tests.peers.oauth_password_server.serve --port N --db PATH
--state PATH`` (see :mod:`.serve`), or from tests through
:class:`tests.peers.password_grant.PasswordGrantServer`.

This package must stay importable without Django being configured: only
:mod:`.accounts` is safe to import from the test process.
"""
