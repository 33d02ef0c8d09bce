"""Finding themes and checking them at start-up; one sandboxed Jinja environment per theme.

A theme is a folder ``<name>/`` with ``templates/`` and ``static/`` in the instance folder's
``themes/`` or in a folder of ``ferry.theme_folders`` (searched in that order). Its environment
loads, in order: the theme's templates, the shipped ones under the ``default/`` prefix, the
shipped ones by their own names. So ``steps/collect.html`` (shipped) extending ``base.html``
gets the theme's ``base.html``, which may ``{% extends "default/base.html" %}`` and override
single blocks. Jinja caches templates per environment (by loader and name), so the theme is part
of the cache key: two apps with different themes never see each other's pages (as CTFd keys its
``ThemeLoader`` by theme).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, PrefixLoader, TemplateSyntaxError, meta, nodes
from jinja2.environment import Environment

#: Theme names: what may appear in a URL path and a folder name.
THEME_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEFAULT_PREFIX = "default/"


@dataclass
class Theme:
    """A theme folder and, once built, its sandboxed environment."""

    name: str
    root: Path
    env: Environment | None = field(default=None, repr=False)

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def static(self) -> Path:
        return self.root / "static"

    def template_names(self) -> list[str]:
        """Every template file of the theme, as a loader name (``steps/collect.html``)."""
        if not self.templates.is_dir():
            return []
        return sorted(p.relative_to(self.templates).as_posix()
                      for p in self.templates.rglob("*.html") if p.is_file())


def theme_folders(instance_path: str, configured: Iterable[str]) -> list[Path]:
    """``<instance>/themes`` and then each configured folder (relative: to the instance folder)."""
    folders = [Path(instance_path) / "themes"]
    folders += [Path(instance_path) / p if not Path(p).is_absolute() else Path(p) for p in configured]
    return folders


def find_theme(name: str, folders: list[Path]) -> Theme | None:
    """The first folder holding theme ``name``, or None."""
    if not THEME_NAME.fullmatch(name or ""):
        return None
    for folder in folders:
        root = folder / name
        if (root / "templates").is_dir() or (root / "static").is_dir():
            return Theme(name, root)
    return None


def theme_loader(theme: Theme, default: BaseLoader) -> ChoiceLoader:
    """The theme's templates, then ``default/<name>``, then the shipped templates."""
    return ChoiceLoader([FileSystemLoader(str(theme.templates)),
                         PrefixLoader({DEFAULT_PREFIX.rstrip("/"): default}), default])


class _Checker:
    """Start-up checks of one theme: syntax, references, loops, blocks (see :func:`check_theme`)."""

    def __init__(self, theme: Theme, env: Environment, default: BaseLoader) -> None:
        self.theme, self.env, self.default = theme, env, default
        self.problems: list[str] = []
        self._parsed: dict[tuple[str, str], nodes.Template | None] = {}

    def where(self, origin: str, name: str) -> str:
        if origin == "theme":
            return f"themes/{self.theme.name}/templates/{name}"
        return f"templates/{name} (shipped)"

    def resolve(self, name: str) -> tuple[str, str] | None:
        """Which file a name loads in this theme's environment: (origin, name)."""
        if name.startswith(DEFAULT_PREFIX):
            name, candidates = name[len(DEFAULT_PREFIX):], ("default",)
        else:
            candidates = ("theme", "default")
        for origin in candidates:
            if origin == "theme" and (self.theme.templates / name).is_file():
                return origin, name
            if origin == "default" and name in self.default.list_templates():
                return origin, name
        return None

    def parse(self, origin: str, name: str) -> nodes.Template | None:
        key = (origin, name)
        if key not in self._parsed:
            if origin == "theme":
                source = (self.theme.templates / name).read_text(encoding="utf-8")
            else:
                source = self.default.get_source(self.env, name)[0]
            try:
                self._parsed[key] = self.env.parse(source, name=name)
            except TemplateSyntaxError as error:
                self.problems.append(f"{self.where(origin, name)}, line {error.lineno}: {error.message}")
                self._parsed[key] = None
        return self._parsed[key]

    def walk(self, origin: str, name: str, path: tuple[tuple[str, str], ...] = ()) -> None:
        """Follow extends/include/import from a template; report missing files and loops."""
        node = (origin, name)
        if node in path:
            chain = " -> ".join(n for _o, n in (*path[path.index(node):], node))
            self.problems.append(f"{self.where(*path[0])}: a template loop ({chain}); a theme's "
                                 f"{name} extends \"default/{name}\" to reach the shipped one")
            return
        tree = self.parse(origin, name)
        if tree is None:
            return
        for referenced in meta.find_referenced_templates(tree):
            if referenced is None:
                continue  # a computed name: checked when rendered
            target = self.resolve(referenced)
            if target is None:
                self.problems.append(f"{self.where(origin, name)}: refers to {referenced!r}, "
                                     "which is neither in the theme nor shipped")
            else:
                self.walk(*target, path=(*path, node))

    def blocks(self, origin: str, name: str, seen: frozenset = frozenset()) -> set[str]:
        """Block names of a template and of every template it extends."""
        tree = self.parse(origin, name)
        if tree is None or (origin, name) in seen:
            return set()
        found = {block.name for block in tree.find_all(nodes.Block)}
        for extends in tree.find_all(nodes.Extends):
            if isinstance(extends.template, nodes.Const):
                target = self.resolve(extends.template.value)
                if target:
                    found |= self.blocks(*target, seen=seen | {(origin, name)})
        return found

    def check_blocks(self, name: str) -> None:
        tree = self.parse("theme", name)
        if tree is None:
            return
        for extends in tree.find_all(nodes.Extends):
            if not isinstance(extends.template, nodes.Const):
                continue
            target = self.resolve(extends.template.value)
            if target is None or target == ("theme", name):
                continue  # reported by walk()
            parent = self.blocks(*target)
            own = {block.name for block in tree.body if isinstance(block, nodes.Block)}
            for missing in sorted(own - parent):
                self.problems.append(
                    f"{self.where('theme', name)}: block {missing!r} is not a block of "
                    f"{extends.template.value} (its blocks: {', '.join(sorted(parent))})")


def check_theme(theme: Theme, env: Environment, default: BaseLoader) -> list[str]:
    """Every problem of a theme a start-up can see: syntax errors, references to templates that
    do not exist, template loops (``base.html`` extending ``base.html``), and blocks a template
    overrides that its parent does not have (a typo would otherwise be silently ignored)."""
    checker = _Checker(theme, env, default)
    for name in theme.template_names():
        checker.walk("theme", name)
        checker.check_blocks(name)
    return list(dict.fromkeys(checker.problems))
