"""Real peer servers that Ferry's integration tests start on loopback.

Nothing in here is a fake: each peer is a genuine implementation of the
protocol Ferry talks to, run as a subprocess so that Ferry's connectors see
real sockets, real HTTP and real failure modes (refused connections during an
outage, 4xx error bodies produced by an actual OAuth library, ...).

* :mod:`tests.peers.oauth_password_server` -- a minimal Django project built on
  django-oauth-toolkit that offers the OAuth 2.0 resource owner password grant
  (``/o/token/``) and OpenID Connect userinfo (``/o/userinfo/``) backed by
  Django's own user table.
* :mod:`tests.peers.password_grant` -- :class:`PasswordGrantServer`, which starts,
  stops and restarts that server for tests.
"""
