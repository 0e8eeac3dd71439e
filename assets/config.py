"""Dagster run config generated from the domain configs (``schemas.options``): the same fields, defaults and
help as the command line's flags, declared once in the domain module."""

from typing import Any

from dagster import Config
from pydantic import Field, create_model

from schemas.options import options_of

__all__ = ["run_config"]


def run_config(name: str, *configs: Any) -> type[Config]:
    """A Dagster ``Config`` class named ``name`` holding every option field of the dataclasses ``configs``
    (classes, or instances whose values are the defaults)."""
    fields = {
        option.name: (option.annotation, Field(default=option.default, description=option.help))
        for option in options_of(*configs)
    }
    return create_model(name, __base__=Config, **fields)
