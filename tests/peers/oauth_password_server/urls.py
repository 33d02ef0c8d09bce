"""URLs: django-oauth-toolkit under /o/ (token, userinfo, discovery, ...) and /healthz."""

import os

from django.http import JsonResponse
from django.urls import include, path


def healthz(request):
    # The pid lets the test harness tell its own child from whatever else might
    # be listening on the port.
    return JsonResponse({"status": "ok", "pid": os.getpid()})


urlpatterns = [
    path("healthz", healthz),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
