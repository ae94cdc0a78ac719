"""The one place that imports learn2learn.

``import learn2learn`` eagerly imports ``learn2learn.vision`` (needs torchvision) and
``learn2learn.gym`` (needs gym). This project installs learn2learn without its
dependencies (see tools/install_learn2learn.py), because the torchvision they pull
breaks transformers and sentence-transformers. So the two sub-packages are stubbed
*only while learn2learn is being imported*; the stubs are removed straight after,
because a stub left in ``sys.modules`` makes transformers believe torchvision exists.

Everything else in the project does ``from benchmark.l2l import l2l``.
"""
from __future__ import annotations

import sys
import types

_STUBBED = ("torchvision", "torchvision.transforms", "torchvision.datasets", "torchvision.models",
            "gym", "gym.spaces", "gym.vector", "gym.envs", "learn2learn.vision", "learn2learn.gym")


def _import_learn2learn():
    if "learn2learn" in sys.modules:
        return sys.modules["learn2learn"]
    added = []
    for name in _STUBBED:
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    try:
        try:
            import learn2learn
        except ImportError as exc:  # pragma: no cover - depends on the install
            from benchmark.errors import UserError

            raise UserError(
                "learn2learn 0.2.0 is not installed (" + str(exc) + ").",
                hint="Run `python tools/install_learn2learn.py` (tox does this for you).",
            ) from exc
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return learn2learn


l2l = _import_learn2learn()
MAML = l2l.algorithms.MAML
MetaDataset = l2l.data.MetaDataset
TaskDataset = l2l.data.TaskDataset
NWays = l2l.data.transforms.NWays
KShots = l2l.data.transforms.KShots
LoadData = l2l.data.transforms.LoadData
