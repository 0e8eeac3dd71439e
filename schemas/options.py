"""Settings declared once: a domain config is a dataclass whose fields are made with ``option``, and both the
command line's flags and Dagster's run config are generated from those fields (name, type, default, help), so
the three cannot drift apart."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["Option", "from_values", "option", "options_of"]


def option(default: Any, help: str) -> Any:
    """A dataclass field with its help text; a list default is copied for every instance."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Option:
    name: str
    annotation: Any  # int, float, str, bool or list[str]
    default: Any
    help: str


def options_of(*configs: Any) -> list[Option]:
    """The ``option`` fields of dataclasses, in order. A config given as an instance (e.g.
    ``TrainConfig(steps=4000)``, declared once beside the model it trains) lends its values as the defaults.
    A name two configs declare must agree in type and default (e.g. ``seed``), and is listed once."""
    found: dict[str, Option] = {}
    for config in configs:
        kind = config if isinstance(config, type) else type(config)
        hints = typing.get_type_hints(kind)
        for field in dataclasses.fields(kind):
            if "help" not in field.metadata:
                continue
            if not isinstance(config, type):
                default = getattr(config, field.name)
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = field.default
            current = Option(field.name, hints[field.name], default, field.metadata["help"])
            earlier = found.setdefault(field.name, current)
            if (earlier.annotation, earlier.default) != (current.annotation, current.default):
                raise TypeError(f"{kind.__name__}.{field.name} differs from the field of that name declared earlier")
    return list(found.values())


def from_values[T](config: type[T], values: Any, **overrides: Any) -> T:
    """An instance of the dataclass ``config`` from the same-named attributes of ``values`` (parsed flags, a
    Dagster run config)."""
    names = {field.name for field in dataclasses.fields(config) if "help" in field.metadata}
    return config(**{name: getattr(values, name) for name in names if hasattr(values, name)} | overrides)
