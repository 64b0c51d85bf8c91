"""The settings mechanism: frozen dataclasses whose fields name their environment variable.

Every settings class is a ``@dataclass(frozen=True)`` subclass of ``EnvSettings``, built by field
name in code and by variable name from the environment (variables it does not declare are ignored).

``env(...)`` declares a field read from one environment variable, with its meaning (rendered
into docs/environment.md) and its bounds; ``read_env`` builds a settings class from an
environment mapping, converting each variable by its field's type. Bounds and each class's own
``check`` run on construction, so settings built in code are held to the same rules.

Why not pydantic: building validators for the ~90 settings was paid by every function on its
first request (bench/auth_bench.py measures the imports; "Platform core" in the README); the
settings are scalars, tuples of strings and a few literals, which this module converts and
checks itself.
"""

import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

S = TypeVar("S", bound="EnvSettings")
VARIABLE = "coditect.env"  # the key of a field's Variable in its dataclass metadata


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    gt: float | None = None
    ge: float | None = None
    pattern: str | None = None
    # Normalises the value (from a string or as built in code); raises ValueError if malformed.
    parse: Callable[[Any], Any] | None = None


def env(
    name: str,
    default: Any,
    meaning: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    pattern: str | None = None,
    parse: Callable[[Any], Any] | None = None,
) -> Any:
    """A field read from the environment variable ``name`` (documented with ``meaning``)."""
    variable = Variable(name, meaning, gt, ge, pattern, parse)
    return dataclasses.field(default=default, metadata={VARIABLE: variable})


def variable_of(field: dataclasses.Field[Any]) -> Variable | None:
    found = field.metadata.get(VARIABLE)
    return found if isinstance(found, Variable) else None


def read_env(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """``cls`` from an environment mapping (the process's by default); unset or empty variables
    take their defaults."""
    source = os.environ if environ is None else environ
    values = {k: v for k, v in source.items() if isinstance(v, str) and v != ""}
    hints = _hints(cls)
    try:
        given: dict[str, Any] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            variable = variable_of(field)
            if variable is not None and variable.name in values:
                raw = values[variable.name]
                try:
                    converted = raw if variable.parse else _convert(hints[field.name], raw)
                except ValueError as error:
                    raise ValueError(f"{variable.name}: {error}") from None
                given[field.name] = converted
        given.update(cls.from_variables(values))
        return cls(**given)
    except SettingsError:
        raise
    except ValueError as error:
        raise SettingsError(f"invalid settings: {error}") from None


def split_list(raw: Any) -> Any:
    """A comma-separated variable as a tuple (already-parsed values pass through)."""
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


class EnvSettings:
    """Base of every settings class: ``from_env`` reads it alone (tests, tools); construction
    checks each variable's bounds, then the class's own ``check``."""

    # (variable pattern, default, meaning) of variables read by ``from_variables``, for the docs.
    ENV_PATTERNS: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return read_env(cls, environ)

    @classmethod
    def from_variables(cls, values: Mapping[str, str]) -> dict[str, Any]:
        """Fields read from variables named by a pattern (``ENV_PATTERNS``), by field name."""
        return {}

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            variable = variable_of(field)
            if variable is not None:
                value = getattr(self, field.name)
                checked = _checked(variable, value, hints[field.name])
                if checked is not value:
                    object.__setattr__(self, field.name, checked)  # frozen: normalise once
        self.check()

    def check(self) -> None:
        """Rules across fields; raise ValueError naming the variable."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' types, resolved once per class (string annotations included)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(hint: Any, raw: str) -> Any:
    """A variable's text as the field's type: str, int, float, bool, a Literal or a tuple."""
    if hint is str or typing.get_origin(hint) is typing.Literal:
        return raw
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean (1/0, true/false, yes/no, on/off)")
    if hint is int or hint is float:
        try:
            return hint(raw.strip())
        except ValueError:
            kind = "an integer" if hint is int else "a number"
            raise ValueError(f"not {kind}: {raw!r}") from None
    if typing.get_origin(hint) is tuple:
        return split_list(raw)
    raise TypeError(f"no conversion from text to {hint!r}")


def _checked(variable: Variable, value: Any, hint: Any) -> Any:
    try:
        if variable.parse is not None:
            value = variable.parse(value)
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else ()
        if choices and value not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, choices))}, not {value!r}")
        if variable.gt is not None and not value > variable.gt:
            raise ValueError(f"must be greater than {variable.gt:g}, not {value}")
        if variable.ge is not None and not value >= variable.ge:
            raise ValueError(f"must be at least {variable.ge:g}, not {value}")
        if variable.pattern is not None and not re.fullmatch(variable.pattern, value):
            raise ValueError(f"must match {variable.pattern}, not {value!r}")
    except ValueError as error:
        raise ValueError(f"{variable.name}: {error}") from None
    return value
