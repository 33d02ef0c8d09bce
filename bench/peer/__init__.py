"""Peers that ``make bench`` runs beside Ferry, each set up from the registry in a scratch venv.

* :mod:`bench.peer.dot`: django-oauth-toolkit as an OpenID Provider (:mod:`dot_site`, a minimal
  Django project), its pinned scratch virtual environment, its gunicorn, and the load client
  that walks its code flow. ``bench/peer_dot.py`` runs it alone.

The Django project in ``dot_site/`` runs only inside the peer's own venv (Django is imported
nowhere else in the bench); everything else here runs in Ferry's venv.
"""
