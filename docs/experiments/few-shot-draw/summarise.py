"""Balanced against random few-shot draws, per task and method: accuracy, macro-F1, the seed-to-seed SD.

    python docs/experiments/few-shot-draw/summarise.py BALANCED_DIR RANDOM_DIR

Cells are matched by (method, task, seed) and only where both folders hold the seed. The SD ratio
(random / balanced) and its 95 % interval are the F-test of ``reports.stats.variance_ratio``, which
treats the two draws' seeds as independent samples (they draw different rows).
"""
from __future__ import annotations

import collections
import pathlib
import statistics
import sys

from benchmark import runner
from reports import stats


def cells(folder: str) -> dict:
    return {(c["method"], c["task"], c["seed"]): c for c in runner.listed_cells(pathlib.Path(folder))
            if c.get("status") == "done"}


def main(balanced_dir: str, random_dir: str) -> None:
    bal, ran = cells(balanced_dir), cells(random_dir)
    both = collections.defaultdict(list)
    for key in sorted(set(bal) & set(ran)):
        both[key[:2]].append(key)
    print("| task | method | seeds | accuracy % balanced | random | macro-F1 balanced | random "
          "| SD ratio random / balanced [95 %] | majority % |")
    print("|---|---|---:|---|---|---|---|---|---:|")
    for (method, task), keys in sorted(both.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        acc = {n: [100 * d[k]["metrics"]["accuracy"] for k in keys] for n, d in (("b", bal), ("r", ran))}
        f1 = {n: [d[k]["metrics"]["macro_f1"] for k in keys] for n, d in (("b", bal), ("r", ran))}
        ratio = stats.variance_ratio([acc["r"]], [acc["b"]])
        majority = 100 * stats.majority_accuracy(bal[keys[0]]["test"]["labels"])

        def sd(x, digits=1):
            return f"{statistics.mean(x):.{digits}f} ± {statistics.stdev(x):.{digits}f}" if len(x) > 1 \
                else f"{x[0]:.{digits}f}"
        interval = (f"{ratio['ratio']:.2f} [{ratio['lo']:.2f}, {ratio['hi']:.2f}]" if len(keys) > 1 else "—")
        print(f"| {task} | {method} | {len(keys)} | {sd(acc['b'])} | {sd(acc['r'])} | {sd(f1['b'], 2)} "
              f"| {sd(f1['r'], 2)} | {interval} | {majority:.1f} |")
    if len({task for _, task in both}) > 1:
        print("\nSD pooled over tasks (sum of seeds - 1 degrees of freedom each):\n")
        print("| method | tasks | SD balanced | SD random | ratio [95 %] |\n|---|---:|---:|---:|---|")
        for method in sorted({m for m, _ in both}):
            runs = {n: [[100 * d[k]["metrics"]["accuracy"] for k in keys]
                        for (m, _), keys in sorted(both.items()) if m == method and len(keys) > 1]
                    for n, d in (("b", bal), ("r", ran))}
            r = stats.variance_ratio(runs["r"], runs["b"])
            sds = {n: stats.pooled_variance(v)[0] ** 0.5 for n, v in runs.items()}
            print(f"| {method} | {len(runs['b'])} | {sds['b']:.1f} | {sds['r']:.1f} "
                  f"| {r['ratio']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}] |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: summarise.py BALANCED_DIR RANDOM_DIR")
    main(*sys.argv[1:])
