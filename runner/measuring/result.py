"""What every probe's result is: a frozen dataclass of plain values.

Kept apart from the probe registry so that the load generators, which the
probes import, can build results without importing the registry.
"""

from __future__ import annotations

import dataclasses
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
        """The result in ``data``; keys this version does not know are left out."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
