"""Exceptions a user can cause. The CLI prints them on one line each and exits non-zero."""

from __future__ import annotations

__all__ = ["SnnhwError", "ConfigError", "InputError", "OutputError", "ToolError"]


class SnnhwError(Exception):
    """Base class of every error a user of snnhw can cause (never one of our bugs)."""


class ConfigError(SnnhwError):
    """A network configuration is invalid.

    Parameters
    ----------
    errors : list of str
        One line per problem, each naming the dotted key path, the bad value and what is
        allowed.
    """

    def __init__(self, errors: list[str]) -> None:
        if not errors:
            raise ValueError("ConfigError needs at least one message")
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class InputError(SnnhwError):
    """An input spike file or option is invalid."""


class OutputError(SnnhwError):
    """An output folder or file cannot be written."""


class ToolError(SnnhwError):
    """An external tool (simulator, compiler) is missing or failed."""
