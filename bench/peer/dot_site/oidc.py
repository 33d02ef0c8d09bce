"""The claims of the peer's ID token: those Ferry's bench app gets (email, name) besides ``sub``."""

from oauth2_provider.oauth2_validators import OAuth2Validator


class BenchValidator(OAuth2Validator):
    """DOT's validator, with the user's email and given name as claims (by scope, as DOT does)."""

    def get_additional_claims(self, request):
        """``email`` and ``email_verified`` (scope ``email``), ``given_name`` (scope ``profile``)."""
        user = request.user
        return {"email": user.email, "email_verified": True, "given_name": user.first_name}
