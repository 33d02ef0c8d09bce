"""The plug-in mechanism shared by connectors, journey steps and authenticators.

A family is a base class holding a :class:`Registry`. Every subclass that sets the class
attribute ``type`` registers itself when its module is imported; :meth:`Registry.discover`
imports every module of the family's package, so adding a plug-in is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


class Registry:
    """Plug-in classes of one family, keyed by their ``type``."""

    def __init__(self, family: str, package: str) -> None:
        self.family = family
        self.package = package
        self._classes: dict[str, type[Any]] = {}

    def register(self, cls: type[Any]) -> None:
        existing = self._classes.get(cls.type)
        if existing is not None and existing is not cls:
            raise TypeError(
                f"two {self.family} types named {cls.type!r}: "
                f"{existing.__module__}.{existing.__qualname__} and {cls.__module__}.{cls.__qualname__}"
            )
        self._classes[cls.type] = cls

    def discover(self) -> Registry:
        """Import every module of the package so that its plug-ins register."""
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
        return self

    def get(self, type_name: str) -> type[Any]:
        try:
            return self._classes[type_name]
        except KeyError:
            known = ", ".join(sorted(self._classes)) or "none"
            raise KeyError(f"unknown {self.family} type {type_name!r} (known: {known})") from None

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._classes

    def types(self) -> list[str]:
        return sorted(self._classes)


def register_subclass(registry: Registry, cls: type[Any]) -> None:
    """Call from ``__init_subclass__``: register concrete classes (those with a ``type``)."""
    if cls.__dict__.get("type"):
        registry.register(cls)
