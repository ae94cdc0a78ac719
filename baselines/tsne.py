"""Not a baseline: the Figure 4 analysis cell. t-SNE of the K-means meta tasks of the
pseudo-labelled pre-training data, coloured by meta task. The clustering is seeded by the
pre-training draw the cell's seed tunes from (``Context.draw_seed``), as MetaPT's is, so the map
shows the meta tasks MetaPT's prompt of that draw was trained on."""
import numpy as np

from baselines.base import Method, pretrain_pool


class TSNE(Method):
    name = "tsne"
    title = "t-SNE of K-means meta tasks"
    pretrain_data = "pseudo"
    meta_tasks = True
    grouping = "kmeans"
    tunes = None           # no downstream training: the cell is the embedding's 2-d map

    def run(self, ctx, task, seed):
        from tasksets.tsne import tsne_points

        pre = ctx.cfg["pretrain"]
        pool = pretrain_pool(ctx, self.pretrain_data)
        texts, labels = pool["texts"], np.asarray(pool["labels"])
        tasks = ctx.tasksets(self.grouping, texts, labels, k=pre["k"], m=pre["m"], seed=ctx.draw_seed)
        points, assignments = tsne_points(tasks.embeddings, tasks.assignments, seed=seed)
        return {"tsne": {"k": pre["k"], "points": np.round(points, 3).tolist(),
                         "assignments": np.asarray(assignments).tolist()},
                "metrics": {}, "split": {}, "train": {"clusters": tasks.summary()}}
