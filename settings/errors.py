"""The one exception the configuration layer raises."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every finding as ``where: what``."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"invalid configuration in {source}" if source else "invalid configuration"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


def pydantic_problems(error, prefix: str) -> list[str]:
    """Flatten a pydantic ``ValidationError`` into ``prefix.field: message`` lines."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append(f"{where}: {message}")
    return problems
