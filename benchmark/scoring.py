"""Verbalised scoring, shared by every loop and every report: the loss and the prediction at the slot.

The objective is the paper's (section 3.2): the log-likelihood of the label word z at the
template's slot, over the whole vocabulary. A prediction is the label word with the highest
score among the task's label words.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, recall_score


def length_buckets(lengths, *, fixed: int = 0, call_cost: float = 0.0, max_rows: int | None = None):
    """Split rows into batches of similar length: a list of index arrays (sorted by length).

    The cost of a batch is ``rows * (fixed + its longest row) + call_cost`` (token units: what a
    padded forward processes, plus a per-call overhead). The split minimising the summed cost is
    found exactly by dynamic programming over the length-sorted rows; ``max_rows`` caps a batch.
    ``call_cost=inf`` (or a single row) gives one batch.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    n = len(order)
    if n <= 1 or not np.isfinite(call_cost):
        if max_rows:
            return [order[i:i + max_rows] for i in range(0, n, max_rows)]
        return [order]
    width = lengths[order] + fixed
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        lo = max(0, j - max_rows) if max_rows else 0
        i = np.arange(lo, j)
        costs = best[i] + (j - i) * float(width[j - 1]) + call_cost
        k = int(np.argmin(costs))
        best[j], cut[j] = costs[k], i[k]
    out, j = [], n
    while j > 0:
        out.append(order[cut[j]:j])
        j = int(cut[j])
    return out[::-1]


# per-call overhead of one forward (+ backward) in token units: a few tens of tokens on a CPU, where
# time grows with the tokens; thousands on a GPU, where a small batch is launch-bound and padding
# is almost free (measured with `python -m benchmark perf`, see docs/PERF.md)
BUCKET_CALL_COST = {"cpu": 128.0, "cuda": 16384.0}


class Scorer:
    """Verbalised scoring on a frozen or trainable backbone: loss and predictions at the slot.

    Large batches of rows (the task-batched meta-step, scoring) are split into length buckets so
    that short rows are not padded to the longest one (``bucket_cost``: the per-call overhead in
    tokens, see ``length_buckets``; None = by device, ``inf`` = never split). Rows are scored
    independently, so bucketing changes no result beyond float rounding.
    """

    def __init__(self, backbone, label_words, max_length: int = 128, bucket_cost: float | None = None):
        self.backbone = backbone
        self.label_words = list(label_words)
        self.label_ids = torch.tensor(backbone.label_token_ids(self.label_words), dtype=torch.long)
        self.max_length = max_length
        self.bucket_cost = bucket_cost

    def _call_cost(self) -> float:
        if self.bucket_cost is not None:
            return float(self.bucket_cost)
        return BUCKET_CALL_COST.get(self.backbone.device.type, BUCKET_CALL_COST["cuda"])

    def buckets(self, texts, prompt=None, max_rows: int | None = None, call_cost: float | None = None):
        """Index arrays of length-bucketed rows (see ``length_buckets``)."""
        n_prompt = 0 if prompt is None else int(prompt.shape[-2])
        lengths = self.backbone.token_lengths(texts, self.max_length)
        return length_buckets(lengths, fixed=n_prompt, max_rows=max_rows,
                              call_cost=self._call_cost() if call_cost is None else call_cost)

    def vocab_logits(self, texts, prompt=None) -> torch.Tensor:
        batch = self.backbone.encode(list(texts), max_length=self.max_length)
        return self.backbone.slot_logits(batch, prompt)

    def losses(self, texts, labels, prompt=None) -> torch.Tensor:
        """Per-row negative log-likelihood of the label word, over the full vocabulary."""
        texts = list(texts)
        target = self.label_ids.to(self.backbone.device)[torch.as_tensor(labels, dtype=torch.long)]
        buckets = self.buckets(texts, prompt) if len(texts) > 1 else [np.arange(len(texts))]
        if len(buckets) == 1:
            return F.cross_entropy(self.vocab_logits(texts, prompt), target, reduction="none")
        parts = []
        for idx in buckets:
            rows = torch.as_tensor(idx, dtype=torch.long, device=target.device)
            p = prompt[rows.to(prompt.device)] if prompt is not None and prompt.dim() == 3 else prompt
            parts.append(F.cross_entropy(self.vocab_logits([texts[i] for i in idx], p), target[rows],
                                         reduction="none"))
        inverse = torch.as_tensor(np.argsort(np.concatenate(buckets), kind="stable"), device=target.device)
        return torch.cat(parts)[inverse]

    def loss(self, texts, labels, prompt=None) -> torch.Tensor:
        return self.losses(texts, labels, prompt).mean()

    @torch.no_grad()
    def predict(self, texts, prompt=None, batch_size: int = 32) -> np.ndarray:
        """Label index per text; texts are scored in length-bucketed batches of at most ``batch_size``
        (less padding), and only the label words' rows of the LM head are computed."""
        texts = list(texts)
        preds = np.empty(len(texts), dtype=np.int64)
        if not texts:
            return preds
        label_ids = self.label_ids.to(self.backbone.device)
        for idx in self.buckets(texts, prompt, max_rows=batch_size):
            batch = self.backbone.encode([texts[i] for i in idx], max_length=self.max_length)
            logits = self.backbone.slot_logits(batch, prompt, label_ids=label_ids)
            preds[idx] = logits.argmax(-1).cpu().numpy()
        return preds


def metrics(labels, preds, label_words) -> dict:
    """Accuracy, macro-F1 and recall per class (keyed by label word; the paper reads 'terrible')."""
    labels = np.asarray(labels)
    preds = np.asarray(preds)
    classes = list(range(len(label_words)))
    recall = recall_score(labels, preds, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float((labels == preds).mean()) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, preds, labels=classes, average="macro", zero_division=0)),
        "recall": {w: float(r) for w, r in zip(label_words, recall)},
        "n": int(len(labels)),
    }
