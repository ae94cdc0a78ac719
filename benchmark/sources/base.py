"""What every loader shares: the ``Loaded`` result and access to the registry's archives.

Loaders call the asset helpers through this module (``base.asset_root(name)``, not a name imported
from it): tests point ``base.asset_root`` at fixture folders laid out like the unpacked archives.
"""
from __future__ import annotations

import dataclasses
import pathlib

from benchmark import assets


@dataclasses.dataclass
class Loaded:
    texts: list[str]
    labels: list[int] | None
    keys: list[str]                       # place of each row in its source: "<part>:<index>" or "<index>"
    origin: str                           # one line: what was read
    sha256: dict[str, str]                # archive or file -> sha256
    test: "Loaded | None" = None          # official test split, when the source has one
    notes: dict = dataclasses.field(default_factory=dict)   # binning thresholds, dropped counts …

    def __len__(self) -> int:
        return len(self.texts)


def asset_root(name: str) -> pathlib.Path:
    """The unpacked folder of a registry asset (tests monkeypatch this to point at fixtures)."""
    return assets.extract(name)


def asset_sha256(name: str) -> str:
    return assets.get(name).sha256


def asset_label(name: str) -> str:
    return assets.get(name).spec
