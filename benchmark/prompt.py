"""The soft prompt (paper section 3): n tunable vectors in the backbone's embedding space.

Only this module is trained by PT, PPT and MetaPT; the backbone stays frozen. A prompt is
saved on its own (safetensors tensor + JSON metadata), a few hundred KB, so a meta-learned
prompt is made once and reused by every task and seed (PEFT's ``save_pretrained`` habit).
"""
from __future__ import annotations

import json
import os
import pathlib

import torch
from safetensors.torch import load_file, save_file

from benchmark.errors import UserError
from benchmark.io import atomic_path

INITS = ("random", "vocab", "file")


class SoftPrompt(torch.nn.Module):
    """``forward()`` returns the [n, d] prompt that the backbone prepends to its input embeddings.

    Args:
        n_tokens: prompt length (100 in the paper).
        embed_dim: the backbone's embedding width.
        init: "random" (uniform in [-0.5, 0.5], as Lester et al.), "vocab" (rows of the
            embedding matrix drawn from its first 5,000 tokens), or "file" (``path``).
        embeddings: the backbone's input embedding matrix, for init="vocab".
        seed: the draw of a random or vocab init.

    Example:
        >>> p = SoftPrompt(4, 8, seed=0)
        >>> p().shape
        torch.Size([4, 8])
    """

    def __init__(self, n_tokens: int, embed_dim: int, init: str = "random", *, embeddings=None,
                 seed: int = 0, path: os.PathLike | None = None):
        super().__init__()
        if n_tokens < 1:
            raise UserError(f"prompt length must be >= 1, got {n_tokens}")
        gen = torch.Generator().manual_seed(seed)
        if init == "random":
            weight = torch.rand(n_tokens, embed_dim, generator=gen) - 0.5
        elif init == "vocab":
            if embeddings is None:
                raise ValueError("init='vocab' needs the backbone's embedding matrix")
            top = min(5000, embeddings.shape[0])
            rows = torch.randint(0, top, (n_tokens,), generator=gen)
            weight = embeddings[rows].detach().float().clone()
        elif init == "file":
            weight, _ = load_prompt(path)
            if weight.shape != (n_tokens, embed_dim):
                raise UserError(f"prompt file {path} holds shape {tuple(weight.shape)}, "
                                f"expected ({n_tokens}, {embed_dim})")
        else:
            raise UserError(f"unknown prompt init {init!r}; valid: {', '.join(INITS)}")
        self.weight = torch.nn.Parameter(weight.float())

    @classmethod
    def from_tensor(cls, weight: torch.Tensor) -> "SoftPrompt":
        prompt = cls(weight.shape[0], weight.shape[1])
        with torch.no_grad():
            prompt.weight.copy_(weight)
        return prompt

    def forward(self) -> torch.Tensor:
        return self.weight


def save_prompt(path: os.PathLike, weight: torch.Tensor, metadata: dict) -> pathlib.Path:
    """Write the prompt tensor and its metadata (backbone, length, method, config, provenance)."""
    path = pathlib.Path(path)
    meta = {"metadata": json.dumps(metadata, sort_keys=True, default=str)}
    with atomic_path(path) as tmp:
        save_file({"prompt": weight.detach().float().contiguous().cpu()}, str(tmp), metadata=meta)
    return path


def load_prompt(path: os.PathLike) -> tuple[torch.Tensor, dict]:
    path = pathlib.Path(path)
    if not path.exists():
        raise UserError(f"prompt file {path} does not exist")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("metadata", "{}"))
    except Exception as exc:  # a truncated or foreign file
        raise UserError(f"prompt file {path} is not a readable safetensors prompt ({exc})") from exc
    if "prompt" not in tensors:
        raise UserError(f"prompt file {path} has no 'prompt' tensor")
    return tensors["prompt"], meta
