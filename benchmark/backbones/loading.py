"""Loading a backbone by name: a registered entry, a local HF folder or a hub id, frozen, on a device.

Hub models load at the commit their revision resolves to (``hub.model_source``, recorded in
``Backbone.source``); registry GGUFs are dequantised once (``gguf.py``); tiny entries are built
(``tiny.py``). Eager attention is the default: second-order MAML through CPU SDPA attention fails.
"""
from __future__ import annotations

import os
import pathlib
import re

import torch

from benchmark import hub
from benchmark.backbones.adapter import Backbone, from_model
from benchmark.backbones.gguf import gguf_cache_dir, prepare_gguf
from benchmark.backbones.kinds import KINDS, detect_kind
from benchmark.backbones.registry import DEFAULT, REGISTRY
from benchmark.backbones.tiny import build_tiny
from benchmark.errors import UserError, unknown


def is_cached(name: str) -> bool:
    """Whether ``name`` loads without any download."""
    entry = REGISTRY.get(name)
    if entry is None:
        return pathlib.Path(name).is_dir()
    if entry.source == "tiny":
        return True
    if entry.source == "gguf-asset":
        return (gguf_cache_dir(entry) / ".complete").exists()
    try:
        from huggingface_hub import try_to_load_from_cache
        hit = try_to_load_from_cache(entry.ref, "config.json")
        return isinstance(hit, str)
    except Exception:  # pragma: no cover - hub library details
        return False


def _load_hf(ref: str, kind: str | None, *, local: bool, dtype, attn: str, label: str, revision: str | None = None):
    import transformers
    from transformers import AutoConfig, AutoTokenizer
    kw = {"local_files_only": True} if (local or hub.offline()) else {}
    if revision and not local:
        kw["revision"] = revision
    try:
        config = AutoConfig.from_pretrained(ref, **kw)
        kind = kind or detect_kind(config)
        cls = getattr(transformers, KINDS[kind].auto_class)
        model = cls.from_pretrained(ref, dtype=dtype, attn_implementation=attn, **kw)
        tok = AutoTokenizer.from_pretrained(ref, **kw)
    except OSError as exc:
        if local:
            raise UserError(f"backbone folder {ref!r} could not be loaded: {exc}".splitlines()[0],
                            hint="a local backbone is a HuggingFace model folder (config.json, weights, tokenizer)")
        raise UserError(
            f"backbone {label!r} ({ref}) is not in the local HF cache and the HuggingFace hub is unreachable "
            f"or offline; `smollm2-135m` works offline",
            hint=f"with internet access run `python -m benchmark models fetch {label}` once") from None
    return model, tok, kind


def load(name: str = DEFAULT, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
         autocast_bf16: bool = False, attn_implementation: str = "eager") -> Backbone:
    """Load a registered backbone, a local HF folder or a hub id, frozen, on ``device``.

    Eager attention is the default: second-order MAML through CPU SDPA attention fails.
    """
    entry = REGISTRY.get(name)
    if entry is not None and entry.source == "tiny":
        model, tok = build_tiny(entry.ref)
        bb = from_model(model.to(dtype), tok, entry.kind, entry.name, autocast_bf16=autocast_bf16)
    elif entry is not None and entry.source == "gguf-asset":
        folder = prepare_gguf(entry)
        with hub.forced_offline():
            model, tok, kind = _load_hf(str(folder), entry.kind, local=True, dtype=dtype,
                                        attn=attn_implementation, label=name)
        bb = from_model(model, tok, kind, entry.name, autocast_bf16=autocast_bf16, add_bos=entry.add_bos)
    elif entry is not None:
        source = hub.model_source(entry.ref, entry.revision, entry.name)
        model, tok, kind = _load_hf(entry.ref, entry.kind, local=False, dtype=dtype, attn=attn_implementation,
                                    label=name, revision=source["revision_sha"] or source["revision"])
        bb = from_model(model, tok, kind, entry.name, autocast_bf16=autocast_bf16)
        bb.source = source
    elif pathlib.Path(name).expanduser().is_dir():
        model, tok, kind = _load_hf(str(pathlib.Path(name).expanduser()), None, local=True, dtype=dtype,
                                    attn=attn_implementation, label=name)
        bb = from_model(model, tok, kind, name, autocast_bf16=autocast_bf16)
    elif re.fullmatch(r"[\w.\-]+/[\w.\-]+", name) and not os.path.exists(name):
        source = hub.model_source(name, "main", name)
        model, tok, kind = _load_hf(name, None, local=False, dtype=dtype, attn=attn_implementation, label=name,
                                    revision=source["revision_sha"] or source["revision"])
        bb = from_model(model, tok, kind, name, autocast_bf16=autocast_bf16)
        bb.source = source
    else:
        err = unknown("backbone", name, REGISTRY)
        err.hint = (err.hint + "; " if err.hint else "") + \
            "a local HF model folder or a hub id 'org/name' also works"
        raise err
    return bb.to(device)


def fetch(name: str, *, quiet: bool = False) -> str:
    """Make ``name`` loadable offline; returns a one-line description of what is cached."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise unknown("backbone", name, REGISTRY)
    if entry.source == "tiny":
        return f"{name}: built on the fly, nothing to fetch"
    if entry.source == "gguf-asset":
        return f"{name}: {prepare_gguf(entry, quiet=quiet)}"
    if hub.offline():
        raise UserError(f"backbone {name!r} comes from the HuggingFace hub, and offline mode is set "
                        f"(METAPT_OFFLINE or HF_HUB_OFFLINE); `smollm2-135m` works offline")
    _load_hf(entry.ref, entry.kind, local=False, dtype=torch.float32, attn="eager", label=name)
    return f"{name}: in the HF cache ({entry.ref})"
