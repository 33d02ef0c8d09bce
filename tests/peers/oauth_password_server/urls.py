"""URLs: django-oauth-toolkit under /o/ (token, userinfo, discovery, ...), the user lookup at
/api/users (see :mod:`.lookup`) and /healthz."""

import os

from django.http import JsonResponse
from django.urls import include, path

from .lookup import users_by_email


def healthz(request):
    """Readiness, with the server's pid."""
    # The pid lets the test harness tell its own child from whatever else might
    # be listening on the port.
    return JsonResponse({"status": "ok", "pid": os.getpid()})


urlpatterns = [
    path("healthz", healthz),
    path("api/users", users_by_email),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
