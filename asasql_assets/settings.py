"""Dagster run config as the plain settings dataclasses that the training functions take."""

from dataclasses import fields
from typing import Any, TypeVar

import dagster as dg

T = TypeVar("T")


def settings_from(config: dg.Config, kind: type[T], **overrides: Any) -> T:
    """The dataclass `kind` filled from the config's fields of the same names, then from overrides."""
    names = {field.name for field in fields(kind)} & set(type(config).model_fields) - set(overrides)
    return kind(**{name: getattr(config, name) for name in names}, **overrides)
