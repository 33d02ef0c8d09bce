"""Base class of the authenticator family."""

from __future__ import annotations

from typing import Any, ClassVar

from plugins import Registry, register_subclass


class Authenticator:
    """A way to prove identity to Ferry. Subclasses set ``type`` and build from config.

    Example::

        class TotpAuthenticator(Authenticator):
            type = "totp"

            @classmethod
            def from_config(cls, config):
                return cls(issuer=config["ISSUER"])
    """

    registry: ClassVar[Registry] = Registry("authenticator", "authenticators")
    type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_subclass(cls.registry, cls)

    @classmethod
    def from_config(cls, config: Any) -> Authenticator:
        """Build the instance for an app from its flat config. Must be overridden."""
        raise NotImplementedError
