"""What every probe's result is: a frozen dataclass of plain values.

Kept apart from the probe registry so that the load generators, which the
probes import, can build results without importing the registry.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R", bound="Result")


@dataclass(frozen=True)
class Result:
    """A probe's figures for one run."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The result in ``data``; keys this version does not know are left out,
        and a value of the wrong type (a stored run is untrusted) is a ``TypeError``
        naming the field."""
        hints = _hints(typing.cast(type, cls))
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key, value in values.items():
            hint = hints.get(key, Any)
            if not fits(value, hint):
                raise TypeError(f"{key}: {type(value).__name__} {str(value)[:40]!r} is not {hint}")
        return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A result class's field types, evaluated once (a run of 1000 cells reads 5000 results)."""
    try:
        return typing.get_type_hints(cls)
    except TypeError:  # Python 3.9 cannot evaluate ``X | None``: no check there
        return {}


def fits(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON is of the annotated type (its outer shape)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is getattr(types, "UnionType", typing.Union):
        return any(fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    base = origin or hint
    if not isinstance(base, type) or not isinstance(value, base):
        return not isinstance(base, type)
    args = typing.get_args(hint)
    if base is dict and len(args) == 2:
        return all(fits(v, args[1]) for v in typing.cast("dict[Any, Any]", value).values())
    if base is list and len(args) == 1:
        return all(fits(v, args[0]) for v in typing.cast("list[Any]", value))
    return True
