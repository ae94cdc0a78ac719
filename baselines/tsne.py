"""Not a baseline: the Figure 4 analysis cell. t-SNE of the K-means meta tasks of the
pseudo-labelled pre-training data, coloured by cluster."""
import numpy as np

from baselines.base import Method
from benchmark.context import PSEUDO_LABELS


class TSNE(Method):
    name = "tsne"
    title = "t-SNE of K-means meta tasks"

    def artifacts(self, ctx):
        return [(PSEUDO_LABELS, ctx.pseudo_labelled_key())]

    def run(self, ctx, task, seed):
        from tasksets.tsne import tsne_points

        pre = ctx.cfg["pretrain"]
        pool = ctx.pseudo_labelled()
        texts, labels = pool["texts"], np.asarray(pool["labels"])
        tasks = ctx.tasksets("kmeans", texts, labels, k=pre["k"], m=pre["m"], seed=pre["seed"])
        points, assignments = tsne_points(tasks.embeddings, tasks.assignments, seed=seed)
        return {"tsne": {"k": pre["k"], "points": np.round(points, 3).tolist(),
                         "assignments": np.asarray(assignments).tolist()},
                "metrics": {}, "split": {}, "train": {"clusters": tasks.summary()}}
