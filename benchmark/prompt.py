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

INITS = ("random", "uniform", "normal", "vocab", "label", "file")
# the inits a profile may name (``prompt_init``); "file" is only for loading a saved prompt
PROFILE_INITS = INITS[:-1]


class SoftPrompt(torch.nn.Module):
    """``forward()`` returns the [n, d] prompt that the backbone prepends to its input embeddings.

    Args:
        n_tokens: prompt length (100 in the paper).
        embed_dim: the backbone's embedding width.
        init: "random" (uniform in [-0.5, 0.5], the paper's, after Lester et al., whose T5
            embeddings are N(0, 1)-scale), "uniform" (U[-a, a], a = sqrt(3) x the std of the
            backbone's input embeddings, so the std matches the backbone's own scale: a fixed
            [-0.5, 0.5] is 3.7x too wide for smollm2-135m, std 0.136), "normal" (N(0, std^2), the
            same std), "vocab" (rows of the embedding matrix drawn from its first 5,000 tokens),
            "label" (the label words' embeddings tiled to the prompt length; Lester et al. find
            vocab and label inits beat random ones by far on small models), or "file" (``path``).
        embeddings: the backbone's input embedding matrix, for every init except random and file.
        label_ids: the label words' token ids, for init="label".
        seed: the draw of a random, uniform, normal or vocab init.
        dtype: the prompt's own dtype: float32, or float64 beside a float64 backbone (the draw is
            made in float32 either way, so both dtypes start from the same values).

    Example:
        >>> p = SoftPrompt(4, 8, seed=0)
        >>> p().shape
        torch.Size([4, 8])
    """

    def __init__(self, n_tokens: int, embed_dim: int, init: str = "random", *, embeddings=None,
                 seed: int = 0, path: os.PathLike | None = None, label_ids=None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if n_tokens < 1:
            raise UserError(f"prompt length must be >= 1, got {n_tokens}")
        gen = torch.Generator().manual_seed(seed)
        if init not in INITS:
            raise UserError(f"unknown prompt init {init!r}; valid: {', '.join(INITS)}")
        if init not in ("random", "file") and embeddings is None:
            raise ValueError(f"init={init!r} needs the backbone's embedding matrix")
        if init == "random":
            weight = torch.rand(n_tokens, embed_dim, generator=gen) - 0.5
        elif init == "uniform":
            bound = 3 ** 0.5 * embedding_std(embeddings)
            weight = (torch.rand(n_tokens, embed_dim, generator=gen) * 2 - 1) * bound
        elif init == "normal":
            weight = torch.randn(n_tokens, embed_dim, generator=gen) * embedding_std(embeddings)
        elif init == "label":
            if not label_ids:
                raise ValueError("init='label' needs the label words' token ids")
            ids = torch.as_tensor(list(label_ids), dtype=torch.long)
            weight = embeddings[ids[torch.arange(n_tokens) % len(ids)]].detach().float().clone()
        elif init == "vocab":
            top = min(5000, embeddings.shape[0])
            rows = torch.randint(0, top, (n_tokens,), generator=gen)
            weight = embeddings[rows].detach().float().clone()
        elif init == "file":
            weight, _ = load_prompt(path)
            if weight.shape != (n_tokens, embed_dim):
                raise UserError(f"prompt file {path} holds shape {tuple(weight.shape)}, "
                                f"expected ({n_tokens}, {embed_dim})")
        self.weight = torch.nn.Parameter(weight.float().to(dtype))

    @classmethod
    def from_tensor(cls, weight: torch.Tensor) -> "SoftPrompt":
        prompt = cls(weight.shape[0], weight.shape[1], dtype=_prompt_dtype(weight.dtype))
        with torch.no_grad():
            prompt.weight.copy_(weight)
        return prompt

    def forward(self) -> torch.Tensor:
        return self.weight


def embedding_std(embeddings: torch.Tensor) -> float:
    """The std of all elements of an embedding matrix: the scale a prompt in the backbone's own units has."""
    return float(embeddings.detach().float().std())


def make_prompt(backbone, cfg: dict, seed: int, label_words) -> SoftPrompt:
    """The fresh prompt of a profile (``prompt_init``, ``prompt_tokens``) on ``backbone``.

    PT, PPT and MetaPT all start here, so one profile gives all three the same kind of init and
    differences between them come from pre-training. ``label_words`` are the ones the prompt is
    trained for (a task's downstream, the pre-training pool's for PPT and MetaPT), used by
    ``init="label"``.
    """
    init = cfg["prompt_init"]
    label_ids = backbone.label_token_ids(list(label_words)) if init == "label" else None
    return SoftPrompt(cfg["prompt_tokens"], backbone.embed_dim, init=init,
                      embeddings=backbone.input_embeddings().weight, seed=seed, label_ids=label_ids,
                      dtype=_prompt_dtype(backbone.dtype))


def _prompt_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64 (a float64 backbone's prompt); everything else is a float32 prompt."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def row_norms(weight: torch.Tensor) -> dict:
    """Median and mean L2 norm of a prompt's rows: how far it sits from the embedding manifold's scale."""
    norms = weight.detach().float().norm(dim=-1)
    return {"median": float(norms.median()), "mean": float(norms.mean())}


def save_prompt(path: os.PathLike, weight: torch.Tensor, metadata: dict) -> pathlib.Path:
    """Write the prompt tensor and its metadata (backbone, length, method, config, provenance)."""
    path = pathlib.Path(path)
    meta = {"metadata": json.dumps(metadata, sort_keys=True, default=str)}
    with atomic_path(path) as tmp:
        weight = weight.detach().to(_prompt_dtype(weight.dtype))
        save_file({"prompt": weight.contiguous().cpu()}, str(tmp), metadata=meta)
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
