"""Pseudo-labellers by name (paper 4.1): ``pretrain.labeller`` in a profile picks one.

    labeller, needs_embeddings = get_labeller("roberta-base")
    out = pseudo_label(pool_texts, pool_labels, corpus_texts, labeller=labeller,
                       encoder=encoder if needs_embeddings else None, ...)

Registered names (``LABELLERS``):

- ``logreg-embeddings``: logistic regression on sentence embeddings (offline; needs an encoder).
- ``logreg-embeddings-balanced``: the same with class weights inverse to the pool's class
  frequencies (rare classes get more confident rows; see ``pretrain.balance`` for the other cure).
- ``roberta-base``: the paper's labeller (after Gu et al.), RoBERTa-base fine-tuned as a sequence
  classifier on the labelled pool; hub id ``FacebookAI/roberta-base`` (needs the internet once).

Any local HF model folder or hub id ``org/name`` is also accepted and fine-tuned the same way
(``hf_classifier_labeller``); such labellers read texts and ignore embeddings.
"""
from __future__ import annotations

import math
import os
import pathlib
import re
from typing import NamedTuple

import numpy as np

from benchmark.errors import UserError, unknown
from tasksets.pseudo_label import logreg_balanced_labeller, logreg_labeller

# name -> a labeller callable, or a HF model id / folder fine-tuned by hf_classifier_labeller
LABELLERS: dict = {
    "logreg-embeddings": logreg_labeller,
    "logreg-embeddings-balanced": logreg_balanced_labeller,
    "roberta-base": "FacebookAI/roberta-base",
}

_HUB_ID = re.compile(r"[\w.\-]+/[\w.\-]+")
OFFLINE_NAME = "logreg-embeddings"


class Resolved(NamedTuple):
    labeller: object          # labeller(texts, labels, embeddings, seed) -> predict_proba
    needs_embeddings: bool    # whether pseudo_label must be given an encoder / embeddings


def get_labeller(name: str) -> Resolved:
    """``(labeller, needs_embeddings)`` for a registered name, a local HF folder or a hub id."""
    entry = LABELLERS.get(name)
    if callable(entry):
        return Resolved(entry, bool(getattr(entry, "needs_embeddings", True)))
    if isinstance(entry, str):
        return Resolved(hf_classifier_labeller(entry, label=name), False)
    if isinstance(name, str) and pathlib.Path(name).expanduser().is_dir():
        return Resolved(hf_classifier_labeller(str(pathlib.Path(name).expanduser())), False)
    if isinstance(name, str) and _HUB_ID.fullmatch(name) and not os.path.exists(name):
        return Resolved(hf_classifier_labeller(name), False)
    err = unknown("labeller", str(name), LABELLERS)
    err.hint = (err.hint + "; " if err.hint else "") + \
        "a local HF model folder or a hub id 'org/name' (fine-tuned as a classifier) also works"
    raise err


def _hub_offline() -> bool:
    from benchmark import paths

    return paths.offline() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _load(ref: str, n_classes: int, label: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    local = pathlib.Path(ref).is_dir()
    kw = {"local_files_only": True} if (local or _hub_offline()) else {}
    try:
        tok = AutoTokenizer.from_pretrained(ref, **kw)
        model = AutoModelForSequenceClassification.from_pretrained(
            ref, num_labels=n_classes, ignore_mismatched_sizes=True, **kw)
    except OSError as exc:
        if local:
            raise UserError(f"labeller folder {ref!r} could not be loaded: {exc}".splitlines()[0],
                            hint="a local labeller is a HuggingFace model folder "
                                 "(config.json, weights, tokenizer)") from None
        raise UserError(
            f"labeller {label!r} ({ref}) is not in the local HF cache and the HuggingFace hub is "
            f"unreachable or offline: this labeller needs the internet once",
            hint=f"`--set pretrain.labeller={OFFLINE_NAME}` works offline") from None
    if tok.pad_token is None:       # decoder-style tokenizers have no pad token
        tok.pad_token = tok.eos_token or tok.unk_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok


def hf_classifier_labeller(model_name_or_path: str, *, epochs: int = 1, lr: float = 2e-5,
                           batch_size: int = 16, max_length: int = 128, device=None,
                           warmup_fraction: float = 0.06, label: str | None = None):
    """A labeller that fine-tunes ``AutoModelForSequenceClassification`` on the train texts.

    AdamW with a linear schedule (``warmup_fraction`` of the steps warm-up), ``epochs`` passes in
    seeded shuffled batches; ``predict_proba`` is the softmax of the logits, in no-grad batches.
    Embeddings are ignored. The model is loaded when the labeller is first called.
    Long because it returns a closure that holds the whole fine-tuning loop and the prediction batches."""
    label = label or model_name_or_path

    def labeller(texts, labels, embeddings, seed):
        import torch
        from transformers import get_linear_schedule_with_warmup

        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        y = np.asarray(labels).astype(np.int64)
        n_classes = int(y.max()) + 1
        texts = list(texts)
        torch.manual_seed(int(seed))
        model, tok = _load(model_name_or_path, n_classes, label)
        model.to(dev)

        def encode(batch):
            enc = tok(list(batch), padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
            return {k: v.to(dev) for k, v in enc.items()}

        steps_per_epoch = math.ceil(len(texts) / batch_size)
        total = max(1, int(epochs) * steps_per_epoch)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        sched = get_linear_schedule_with_warmup(opt, int(warmup_fraction * total), total)
        gen = torch.Generator().manual_seed(int(seed))
        target = torch.as_tensor(y)
        model.train()
        for _ in range(int(epochs)):
            order = torch.randperm(len(texts), generator=gen).tolist()
            for s in range(0, len(order), batch_size):
                rows = order[s:s + batch_size]
                out = model(**encode([texts[i] for i in rows]), labels=target[rows].to(dev))
                out.loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
        model.eval()

        def predict_proba(pred_texts, _embeddings=None):
            pred_texts = list(pred_texts)
            order = sorted(range(len(pred_texts)), key=lambda i: len(pred_texts[i]))  # less padding
            probs = np.zeros((len(pred_texts), n_classes), dtype=np.float64)
            with torch.no_grad():
                for s in range(0, len(order), batch_size * 4):
                    rows = order[s:s + batch_size * 4]
                    logits = model(**encode([pred_texts[i] for i in rows])).logits
                    probs[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            return probs

        return predict_proba

    labeller.__name__ = f"hf-classifier:{model_name_or_path}"
    labeller.needs_embeddings = False
    return labeller
