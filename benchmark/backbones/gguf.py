"""The offline backbone: a registry asset holding a 4-bit GGUF, dequantised once into an HF folder.

``prepare_gguf`` reads the GGUF with transformers, rebuilds a clean float32 model (transformers 5.x
refuses ``save_pretrained`` on a GGUF-loaded one) and keeps it under ``<cache>/models/<name>``, with a
``metapt_source.json`` saying where the weights came from. Later loads read that folder offline.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

import torch

from benchmark import hub, paths
from benchmark.backbones.registry import BackboneEntry
from benchmark.errors import UserError


def _models_dir() -> pathlib.Path:
    return paths.sub("models")


def gguf_cache_dir(entry: BackboneEntry) -> pathlib.Path:
    return _models_dir() / entry.name


def prepare_gguf(entry: BackboneEntry, *, quiet: bool = False) -> pathlib.Path:
    """Dequantise the GGUF once and keep it as an ordinary HF folder (config, weights, tokenizer)."""
    dest = gguf_cache_dir(entry)
    if (dest / ".complete").exists():
        return dest
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from benchmark import assets
    root = assets.extract(entry.ref)
    gguf = root / entry.gguf_file
    if not gguf.exists():
        raise UserError(f"asset {entry.ref!r} has no {entry.gguf_file}; the cached archive looks wrong",
                        hint=f"delete {root} and rerun `python -m benchmark models fetch {entry.name}`")
    if not quiet:
        print(f"dequantising {gguf.name} into an HF folder (once, ~15-30 s) …", file=sys.stderr)
    t0 = time.time()
    with hub.forced_offline():
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers 5.x refuses save_pretrained on a GGUF-loaded model: rebuild a clean one.
    cfg_dict = loaded.config.to_dict()
    cfg_dict.pop("quantization_config", None)
    cfg_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**cfg_dict)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"rebuilding {entry.name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    del loaded
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=_models_dir()))
    try:
        clean.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "metapt_source.json").write_text(json.dumps({
            "asset": entry.ref, "gguf_file": entry.gguf_file, "dequantised": True,
            "note": "weights dequantised from 4-bit GGUF: close to, not equal to, the original"}, indent=1))
        (tmp / ".complete").write_text("ok")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"cached {entry.name} ({time.time() - t0:.1f} s)", file=sys.stderr)
    return dest
