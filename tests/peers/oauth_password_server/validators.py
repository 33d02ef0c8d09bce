"""OAuth2Validator for the peer: the OpenID Connect claims the server hands out."""

from oauth2_provider.oauth2_validators import OAuth2Validator


class FerryPeerValidator(OAuth2Validator):
    """Userinfo (and ID token) claims taken from Django's ``User`` row.

    ``get_additional_claims`` takes no ``request`` argument on purpose: in that
    form DOT calls each value with the request and, unlike the
    ``get_additional_claims(self, request)`` form, also lists the claim names
    in the discovery document's ``claims_supported``.

    DOT filters the claims per granted scope (``oidc_claim_scope``): ``sub``
    needs ``openid``, ``email``/``email_verified`` need ``email`` and the name
    claims need ``profile``.
    """

    def get_additional_claims(self):
        return {
            "sub": lambda request: str(request.user.pk),
            "email": lambda request: request.user.email,
            "email_verified": lambda request: True,
            "given_name": lambda request: request.user.first_name,
            "family_name": lambda request: request.user.last_name,
            "name": lambda request: request.user.get_full_name(),
        }
