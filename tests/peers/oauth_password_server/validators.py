"""OAuth2Validator for the peer: the OpenID Connect claims it hands out, and who gets which grant."""

from oauth2_provider.oauth2_validators import OAuth2Validator

from .accounts import CLIENT_CREDENTIALS_CLIENTS, LOOKUP_SCOPE, USER_SCOPES

CLIENT_CREDENTIALS = "client_credentials"


class FerryPeerValidator(OAuth2Validator):
    """Userinfo (and ID token) claims taken from Django's ``User`` row; grants and scopes per
    client, as a real IdP configures them.

    ``get_additional_claims`` takes no ``request`` argument on purpose: in that
    form DOT calls each value with the request and, unlike the
    ``get_additional_claims(self, request)`` form, also lists the claim names
    in the discovery document's ``claims_supported``.

    DOT filters the claims per granted scope (``oidc_claim_scope``): ``sub``
    needs ``openid``, ``email``/``email_verified`` need ``email`` and the name
    claims need ``profile``.

    DOT's ``Application`` has one grant type; the clients in ``CLIENT_CREDENTIALS_CLIENTS`` may
    use the client-credentials grant beside it. A user token (password grant) gets only the
    ``USER_SCOPES`` (all of them when none is asked for) and never ``LOOKUP_SCOPE``; a
    client-credentials token gets ``LOOKUP_SCOPE`` when none is asked for, or any known scope
    asked for (so a wrong ``scope`` gives a token the lookup refuses with 403).
    """

    def get_additional_claims(self):
        """The claims of a user, by name (DOT releases them per scope)."""
        return {
            "sub": lambda request: str(request.user.pk),
            "email": lambda request: request.user.email,
            "email_verified": lambda request: True,
            "given_name": lambda request: request.user.first_name,
            "family_name": lambda request: request.user.last_name,
            "name": lambda request: request.user.get_full_name(),
        }

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """The application's own grant, and the client-credentials grant for the chosen few."""
        if grant_type == CLIENT_CREDENTIALS:
            return request.client.client_id in CLIENT_CREDENTIALS_CLIENTS
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        """What a token request without ``scope`` gets."""
        if request.grant_type == CLIENT_CREDENTIALS:
            return [LOOKUP_SCOPE]
        return list(USER_SCOPES)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """Known scopes only, and the lookup scope only for the client-credentials grant."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        return request.grant_type == CLIENT_CREDENTIALS or LOOKUP_SCOPE not in scopes
