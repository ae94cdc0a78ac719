"""What a cell runs with: a cache over its config of the loaded backbone, data, splits and shared artefacts.

What the cached things are is built elsewhere (the pre-training data in ``tasksets.pretraining``,
prompts by the methods); this module keeps each one once per process or once in the cache folder.

Shared work (pseudo-labels, clusterings, pre-trained and meta-learned prompts) is keyed by the
hash of exactly the settings it depends on and stored once under ``<cache>/artifacts/<kind>/<hash>``
with a checksummed ``artifact.json``; an artefact is never read half-written, and a corrupt one
is reported and rebuilt.
"""
from __future__ import annotations

import copy
import logging
import pathlib
import shutil
import time

import torch

from benchmark import config as config_mod, paths
from benchmark.io import CorruptCacheEntry, config_hash, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

_BACKBONES: dict = {}  # one loaded backbone per (name, device, bf16) per process

# Every artefact this process read from the cache or built, in order, for the run's summary
# (``benchmark.run_summary``): {"kind", "hash", "built", "build_s", "within"}. ``within`` names the
# artefact whose build asked for this one (its build time includes this one's).
ARTIFACT_LOG: list = []
PSEUDO_LABELS = "pseudo-labels"   # the kind of MetaPT's and PPT's pre-training data
_BUILDING: list = []


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class Context:
    """The caches of one configuration. ``drawn(d)`` is a view of it for pre-training draw ``d``
    (``settings.draw_seed``): the same caches, with the methods' artefacts built and read for that draw."""

    def __init__(self, cfg: dict, *, progress: bool = True, artifacts_dir: pathlib.Path | None = None):
        self.cfg = cfg
        self.progress = progress
        self.artifacts_dir = pathlib.Path(artifacts_dir) if artifacts_dir else paths.sub("artifacts")
        self._rows: dict = {}
        self._prepared: dict = {}
        self._scores: dict = {}
        self.provenance: dict = {}
        self._draw: int | None = None

    # -- the pre-training draw -----------------------------------------------------------------
    @property
    def draw_seed(self) -> int:
        """The seed of the pre-training draw this context builds and reads artefacts of: the one
        ``drawn`` gave it, else the configuration's own (``pretrain.draw``'s integer, or
        ``pretrain.seed``; under ``per-seed`` a context not drawn for a seed uses ``pretrain.seed``)."""
        if self._draw is not None:
            return self._draw
        from benchmark.settings import draw_seed

        return draw_seed(self.cfg, self.cfg["pretrain"]["seed"])

    def drawn(self, draw: int) -> Context:
        """This configuration for pre-training draw ``draw``: every cache shared with this context
        (rows, scores, provenance, prepared artefacts, keyed by draw)."""
        if int(draw) == self.draw_seed:
            return self
        view = copy.copy(self)        # shallow: the cache dicts are the same objects
        view._draw = int(draw)
        return view

    def for_seed(self, seed: int) -> Context:
        """The view a cell of ``seed`` tunes from (``settings.draw_seed``)."""
        from benchmark.settings import draw_seed

        return self.drawn(draw_seed(self.cfg, seed))

    def shared_score(self, key: tuple, compute):
        """``compute()`` once per ``key`` in this context: a fixed prompt's predictions on a task's
        fixed test rows are the same for every seed (no gradient, no RNG), so they are made once."""
        if key not in self._scores:
            self._scores[key] = compute()
        return self._scores[key]

    # -- configs -------------------------------------------------------------------------------
    def train_config(self, section: str):
        """``tune``, ``ft`` or ``ppt``, typed; ``ppt``'s budget scaled by ``pretrain.compute``."""
        return config_mod.train_config(config_mod.scale_budget(self.cfg, section))

    def maml_config(self):
        """``maml``, typed, its budget scaled by ``pretrain.compute``."""
        return config_mod.maml_config(config_mod.scale_budget(self.cfg, "maml"))

    # -- backbone ------------------------------------------------------------------------------
    def backbone(self):
        from benchmark import backbones, precision

        bf16 = precision.resolve(self.cfg)["bf16"]   # a config made without `run` may still say auto
        dtype = self.cfg.get("dtype", "float32")
        key = (self.cfg["backbone"], resolve_device(self.cfg["device"]), bool(bf16), dtype)
        if key not in _BACKBONES:
            log.info("loading backbone %s on %s (bf16 autocast: %s, %s)", *key)
            _BACKBONES[key] = backbones.load(key[0], device=key[1], autocast_bf16=key[2],
                                             dtype=getattr(torch, dtype))
        if _BACKBONES[key].source:   # hub models: the id and commit the weights came from
            self.provenance.setdefault("backbone", _BACKBONES[key].source)
        return _BACKBONES[key]

    def trainable_backbone(self):
        """A private, trainable copy of the backbone for full-model tuning."""
        clone = copy.deepcopy(self.backbone())
        clone.unfreeze()
        return clone

    # -- data ----------------------------------------------------------------------------------
    def rows(self, task: str):
        from benchmark import data

        if task not in self._rows:
            self._rows[task] = data.load(task, source=self.cfg["data_source"])
            self.provenance[task] = self._rows[task].provenance
        return self._rows[task]

    def split(self, task: str, seed: int):
        from benchmark import data, settings

        spec = data.get_task(task)
        split = data.few_shot_split(self.rows(task), n_train=self.cfg["n_train"], n_val=self.cfg["n_val"],
                                    seed=seed, max_test=self.cfg["max_test"],
                                    balanced=settings.few_shot(self.cfg) == settings.BALANCED)
        return spec, split

    def pretrain_label_words(self) -> list[str]:
        from benchmark import data

        return data.get_task(self.cfg["pretrain"]["labelled_pool"]).label_words

    def labelled_pool_key(self) -> dict:
        from tasksets.pretraining import labelled_pool_key

        return labelled_pool_key(self.cfg)

    def labelled_pool(self) -> dict:
        """MetaPT(Y)'s pre-training data (``tasksets.pretraining.labelled_pool``)."""
        from tasksets.pretraining import labelled_pool

        return labelled_pool(self.cfg, self.rows)

    def pseudo_labelled_key(self) -> dict:
        from tasksets.pretraining import pseudo_labelled_key

        return pseudo_labelled_key(self.cfg)

    def pseudo_labelled(self) -> dict:
        """MetaPT's and PPT's pre-training data (``tasksets.pretraining.build_pseudo_labelled``), built
        once as an artefact."""
        from tasksets.pretraining import build_pseudo_labelled

        def build(ctx, out_dir):
            return build_pseudo_labelled(ctx.cfg, ctx.rows, out_dir)

        art = self.artifact(PSEUDO_LABELS, self.pseudo_labelled_key(), build)
        out = read_json(pathlib.Path(art["dir"]) / "data.json", checksum=True)
        # a cell using these rows carries their sources' provenance even when the artefact was cached
        pre, prov = self.cfg["pretrain"], (out.get("report") or {}).get("provenance") or {}
        for name, part in ((pre["labelled_pool"], "pool"), (pre["unlabelled"], "corpus")):
            if prov.get(part):
                self.provenance.setdefault(name, prov[part])
        return out

    def tasksets(self, grouping, texts, labels, *, k, m, seed):
        from benchmark import encoders
        from tasksets import get_tasksets

        embeddings = encoders.embed(self.cfg["encoder"], texts) if grouping == "kmeans" else None
        pre = self.cfg["pretrain"]
        return get_tasksets(grouping, texts, labels, k=k, m=m, seed=seed, embeddings=embeddings,
                            val_fraction=pre["val_fraction"])

    def meta_sampler(self, tasks, *, m, seed, val_per_task):
        from benchmark.maml import ClusterSampler

        return ClusterSampler(tasks, m=m, seed=seed, val_per_task=val_per_task)

    # -- artefacts -----------------------------------------------------------------------------
    def artifact_folder(self, kind: str, key: dict) -> pathlib.Path:
        """Where ``kind`` for ``key`` is kept; it is cached when the folder holds ``artifact.json``."""
        return self.artifacts_dir / kind / config_hash(key)

    def artifact(self, kind: str, key: dict, build, *, build_s: float | None = None) -> dict:
        """Build ``kind`` for ``key`` once: ``build(ctx, out_dir) -> dict``; later calls read it back.
        ``build_s``: the seconds its build cost where they were spent before ``build`` (a joint build
        of several artefacts, ``Method.build_artifacts``), recorded instead of ``build``'s own."""
        folder = self.artifact_folder(kind, key)
        digest = folder.name
        marker = folder / "artifact.json"
        if marker.exists():
            try:
                info = read_json(marker, checksum=True)
                for name, sha in info.get("sha256", {}).items():
                    if sha256_file(folder / name) != sha:
                        raise CorruptCacheEntry(f"{folder / name}: checksum mismatch")
                info["dir"] = str(folder)
                ARTIFACT_LOG.append({"kind": kind, "hash": digest, "built": False})
                return info
            except (CorruptCacheEntry, FileNotFoundError) as exc:
                log.warning("artefact %s/%s is corrupt (%s); rebuilding it", kind, digest, exc)
                marker.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("building artefact %s/%s", kind, digest)
        within = _BUILDING[-1] if _BUILDING else None
        started = time.time()
        _BUILDING.append(f"{kind}/{digest}")
        try:
            info = build(self, folder)
        finally:
            _BUILDING.pop()
        info = dict(info, kind=kind, key=key, hash=digest,
                    sha256={name: sha256_file(folder / name) for name in info.get("files", [])})
        write_json(marker, info, checksum=True)
        (folder / "checkpoint.pt").unlink(missing_ok=True)  # the finished artefact supersedes its resume point
        spent = time.time() - started + (build_s or 0.0)
        ARTIFACT_LOG.append({"kind": kind, "hash": digest, "built": True, "build_s": round(spent, 2),
                             "within": within})
        info["dir"] = str(folder)
        return info

    def prepared(self, method, seed: int | None = None) -> dict:
        """``method``'s artefact for this context's draw, or for the draw a cell of ``seed`` tunes from."""
        ctx = self if seed is None else self.for_seed(seed)
        key = (method.name, ctx.draw_seed)
        if key not in self._prepared:
            self._prepared[key] = method.prepare(ctx)
        return self._prepared[key]

    def save_prompt(self, out_dir: pathlib.Path, weight, *, method: str, report: dict) -> dict:
        from benchmark.prompt import save_prompt

        meta = {"method": method, "backbone": self.cfg["backbone"], "length": int(weight.shape[0]),
                "config": self.cfg, "report": report}
        save_prompt(out_dir / "prompt.safetensors", weight, meta)
        return {"files": ["prompt.safetensors"], "report": report}

    def load_prompt(self, artifact: dict) -> torch.Tensor:
        from benchmark.prompt import load_prompt

        weight, _ = load_prompt(pathlib.Path(artifact["dir"]) / "prompt.safetensors")
        return weight


def clear_artifacts(kind: str | None = None) -> None:
    root = paths.sub("artifacts")
    shutil.rmtree(root / kind if kind else root, ignore_errors=True)
