"""``GET /api/users?email=...``: the user search of the peer's admin API, as ROPC lookups use it.

Protected like any resource of a real IdP: a Bearer access token (RFC 6750) that carries
``LOOKUP_SCOPE``, which only the client-credentials grant hands out. The answer is a JSON list
of the active users whose e-mail address is the one asked for, compared case-insensitively as
mail providers do (Auth0's ``users-by-email`` answers the same shape): ``[]`` when there is
none. Each user has the claims the userinfo endpoint releases with ``openid email profile``,
with the same ``sub``. Inactive users (Django's ``is_active = False``) are left out: they cannot
sign in, so they are nobody to send a code to.

* No token, an unknown, expired or revoked one: ``401`` with ``WWW-Authenticate: Bearer
  error="invalid_token"``.
* A valid token without the scope: ``403`` ``error="insufficient_scope"``.
* No ``email`` parameter: ``400`` ``{"error": "invalid_request"}``.
"""

from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from oauth2_provider.oauth2_backends import get_oauthlib_core

from .accounts import LOOKUP_SCOPE

REALM = "ferry-password-grant-peer"


def _challenge(status, error, **more):
    extra = "".join(f', {key}="{value}"' for key, value in more.items())
    response = JsonResponse({"error": error}, status=status)
    response["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="{error}"{extra}'
    return response


def user_claims(user):
    """What the lookup answers for ``user``: the userinfo claims, same ``sub``."""
    return {
        "sub": str(user.pk),
        "email": user.email,
        "email_verified": True,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "name": user.get_full_name(),
    }


@require_GET
def users_by_email(request):
    """The view: check the token, then answer the matching active users as a list."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        return _challenge(401, "invalid_token")
    if not oauth_request.access_token.allow_scopes([LOOKUP_SCOPE]):
        return _challenge(403, "insufficient_scope", scope=LOOKUP_SCOPE)
    email = request.GET.get("email", "").strip()
    if not email:
        return JsonResponse({"error": "invalid_request",
                             "error_description": "the email parameter is required"}, status=400)
    found = get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk")
    return JsonResponse([user_claims(user) for user in found], safe=False)
