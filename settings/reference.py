"""The settings reference in docs/, generated from the typed settings so it cannot drift.

:class:`settings.server.ServerSettings` (the ``[ferry]`` table) and
:class:`provider.app_settings.AppSettings` (``[apps.<client_id>]``) are the one source: each
field's name, default and ``description`` become one row of a markdown table. The tables live in
docs/configuration.md and docs/provider.md between ``<!-- settings:begin -->`` and
``<!-- settings:end -->`` markers (``<!-- app-settings:begin -->`` / ``:end`` for apps), and
``python -m settings.reference --write`` rewrites them; ``--check`` (the default) exits 1 when a
file is out of date. tests/test_docs.py fails the same way.

Defaults computed at start-up (a random ``secret_key``, the SQLite file in the instance folder,
the WebAuthn values taken from the issuer) have no useful literal value: :data:`DEFAULT_TEXT`
words them for people.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from provider.app_settings import AppSettings
from settings.server import ServerSettings

ROOT = Path(__file__).resolve().parent.parent

#: Readable defaults for the settings whose declared default is a placeholder filled in later.
DEFAULT_TEXT: dict[type[BaseModel], dict[str, str]] = {
    ServerSettings: {
        "secret_key": "random, kept in `<instance>/secret_key`",
        "database_url": "`sqlite:///<instance>/ferry.db`",
        "webauthn_rp_id": "the issuer's host",
        "webauthn_origins": "the issuer's origin",
    },
    AppSettings: {
        "name": "the client id",
        "token_endpoint_auth_method": "`client_secret_basic` with a secret; `private_key_jwt` "
        "with `jwks`/`jwks_uri`; else `none`",
        "journey": "`default_journey`",
        "code_ttl": "the `[ferry]` value",
        "access_token_ttl": "the `[ferry]` value",
        "id_token_ttl": "the `[ferry]` value",
        "refresh_token_ttl": "the `[ferry]` value",
        "refresh_token_idle_ttl": "the `[ferry]` value",
    },
}

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))


@dataclass(frozen=True)
class Block:
    """One generated table: which model, the file it lives in, and its markers."""

    model: type[BaseModel]
    path: Path
    marker: str
    environment: bool

    @property
    def begin(self) -> str:
        return f"<!-- {self.marker}:begin -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.marker}:end -->"


BLOCKS = (
    Block(ServerSettings, ROOT / "docs" / "configuration.md", "settings", environment=True),
    Block(AppSettings, ROOT / "docs" / "provider.md", "app-settings", environment=False),
)


def _duration(name: str, seconds: int) -> str:
    # A lifetime in seconds reads better with its size in words: 15552000 (180 days).
    if not name.endswith(("_ttl", "_lifetime")) or seconds <= 0:
        return ""
    for size, unit in _UNITS:
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f" ({count} {unit}{'s' if count != 1 else ''})"
    return ""


def default_text(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """How the default of ``model.name`` reads in the reference (``required``, ``empty``, `` `3.0` ``)."""
    worded = DEFAULT_TEXT.get(model, {}).get(name)
    if worded is not None:
        return worded
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else "empty"
    if isinstance(value, int):
        return f"`{value}`{_duration(name, value)}"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    # A pipe inside a cell would end it; a newline would end the row.
    return " ".join(text.split()).replace("|", "\\|")


def render_table(model: type[BaseModel], environment: bool) -> str:
    """The markdown table of every field of ``model``: key, (``FERRY_<NAME>``,) default, meaning.

    >>> print(render_table(ServerSettings, environment=True).splitlines()[2])  # doctest: +ELLIPSIS
    | `issuer` | `FERRY_ISSUER` | `http://localhost:5000` | Public base URL of Ferry; ...
    """
    header = "| key | environment | default | meaning |" if environment else "| key | default | meaning |"
    lines = [header, "| --- " * header.count(" | ") + "| --- |"]
    for name, field in model.model_fields.items():
        cells = [f"`{name}`"]
        if environment:
            cells.append(f"`FERRY_{name.upper()}`")
        cells += [default_text(model, name, field), _cell(field.description or "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def rewrite(text: str, block: Block) -> str:
    """``text`` with the part between ``block``'s markers replaced by the table rendered now."""
    start, end = text.find(block.begin), text.find(block.end)
    if start < 0 or end < start:
        raise ValueError(f"{block.path.name}: markers {block.begin} ... {block.end} not found")
    head = text[: start + len(block.begin)]
    return head + "\n" + render_table(block.model, block.environment) + text[end:]


def stale_blocks(blocks: tuple[Block, ...] = BLOCKS) -> list[Block]:
    """The blocks whose file does not hold what :func:`render_table` renders now."""
    return [block for block in blocks if rewrite(block.path.read_text(), block) != block.path.read_text()]


def main(argv: list[str] | None = None) -> int:
    """``python -m settings.reference [--write | --check]``: rewrite or check the generated tables."""
    parser = argparse.ArgumentParser(prog="python -m settings.reference", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the tables in docs/")
    mode.add_argument("--check", action="store_true", help="exit 1 when a table is out of date (default)")
    args = parser.parse_args(argv)
    stale = stale_blocks()
    if args.write:
        for block in stale:
            block.path.write_text(rewrite(block.path.read_text(), block))
            sys.stdout.write(f"rewrote {block.path.relative_to(ROOT)}\n")
        return 0
    for block in stale:
        sys.stderr.write(f"{block.path.relative_to(ROOT)} is out of date: "
                         "run `python -m settings.reference --write`\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
