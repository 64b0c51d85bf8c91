"""The settings mechanism: frozen pydantic dataclasses whose fields name their variable.

``env(...)`` declares a field read from one environment variable, with its meaning (rendered
into docs/environment.md); ``read_env`` validates a settings class from an environment mapping.
See shared/settings.py for why pydantic dataclasses rather than pydantic-settings.
"""

import os
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

T = TypeVar("T")

# Every settings class: frozen, validated, built by field name in code and by variable name from
# the environment; variables it does not know are none of its business.
SETTINGS_CONFIG = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env(name: str, default: Any, meaning: str, **kwargs: Any) -> Any:
    """A field read from the environment variable ``name`` (documented with ``meaning``)."""
    return Field(default, validation_alias=name, description=meaning, **kwargs)


def env_factory(name: str, factory: Any, meaning: str) -> Any:
    return Field(default_factory=factory, validation_alias=name, description=meaning)


def read_env(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """``cls`` from an environment mapping (the process's by default); unset or empty variables
    take their defaults."""
    source = os.environ if environ is None else environ
    values = {k: v for k, v in source.items() if isinstance(v, str) and v != ""}
    try:
        return TypeAdapter(cls).validate_python(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or cls.__name__}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


def split_list(raw: Any) -> Any:
    """A comma-separated variable as a tuple (already-parsed values pass through)."""
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


class EnvSettings:
    """Base of every settings class: ``from_env`` reads it alone (tests, tools)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return read_env(cls, environ)
