"""What a step returns. A step never picks the next page; the journey's ``on`` map does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Render:
    """Show ``template`` (a name under ``templates/``) with ``form`` and ``context``."""

    template: str
    form: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class Redirect:
    """Send the browser to ``url`` (an app's redirect URI, a legacy IDP...)."""

    url: str


@dataclass(frozen=True)
class Done:
    """The step finished with ``outcome``; ``notice`` is shown on the next page rendered."""

    outcome: str
    notice: str | None = None


@dataclass(frozen=True)
class Switch:
    """Carry the run on in another journey, at its first step (the context goes along)."""

    journey: str


Result = Render | Redirect | Done | Switch
