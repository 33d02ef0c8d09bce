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


#: A WebAuthn answer is a few kilobytes of shallow JSON; anything far past that is not one.
MAX_CEREMONY_BYTES = 64 * 1024
MAX_CEREMONY_DEPTH = 32


def ceremony_json(answer: object) -> str:
    """``answer`` if it can be a browser's WebAuthn answer, else ValueError.

    Checked before any JSON parser sees it: a deeply nested document makes Python's parser
    raise RecursionError (and costs time), which no caller should have to expect.
    """
    if not isinstance(answer, str) or len(answer) > MAX_CEREMONY_BYTES:
        raise ValueError("not a WebAuthn answer")
    depth = deepest = 0
    for char in answer:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_CEREMONY_DEPTH:
        raise ValueError("a WebAuthn answer is not nested this deep")
    return answer

