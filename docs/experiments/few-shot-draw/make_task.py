"""Write an imbalanced held-out user task: VADER's NYT editorial snippets in three classes.

The ratings (mean of >= 20 raters, -4..+4) are cut at the SST-5 stand-in's middle edges, -0.8 and
+0.8: negative / neutral / positive. No downstream task of sentiment7 reads these sentences (they
stand in for Yelp-5, the labelled pre-training pool, which FT and PT never see), and the classes
come out lopsided, as a user's own data often does.

    python docs/experiments/few-shot-draw/make_task.py DIR
    METAPT_TASKS_PATH=DIR python -m benchmark run --suite sentiment7 --tasks nyt3 --methods ft,pt ...
"""
from __future__ import annotations

import collections
import csv
import pathlib
import sys

from benchmark.sources.vader import bin_five, parse_vader_tsv, read_vader_file

THREE = (0, 0, 1, 2, 2)   # the five SST-5 bins -> negative, neutral, positive
YAML = """\
name: nyt3
title: NYT editorial snippets, 3 classes
classes: [negative, neutral, positive]
label_words: [bad, maybe, good]
data: nyt3.csv
"""


def main(out: str) -> None:
    raw, member = read_vader_file("nyt")
    rows = parse_vader_tsv(raw, where=member)
    labels = [THREE[bin_five(m)] for _, m, _ in rows]
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "nyt3.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((text, label) for (_, _, text), label in zip(rows, labels))
    (folder / "nyt3.yaml").write_text(YAML)
    counts = collections.Counter(labels)
    print(f"{folder}/nyt3.csv: {len(rows)} rows, classes {[counts[k] for k in range(3)]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_task.py DIR")
    main(sys.argv[1])
