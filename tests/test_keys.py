"""Cell and artefact keys are the results cache: a refactor that changes one silently reruns (or, worse,
mixes) results. The keys of the sentiment7 suite under the cpu and smoke profiles, made the way
`python -m benchmark run --dry-run` makes them, are compared with the list recorded in
``fixtures/keys_sentiment7.json`` (recorded before the backbones/sources split).

Rerecord only for a change that is meant to alter keys: ``python tests/test_keys.py --record``.
"""
from __future__ import annotations

import argparse
import io
import json
import pathlib
import sys

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "keys_sentiment7.json"
SUITE = "sentiment7"
# (label, profile, overrides): bf16 is pinned on cpu (its `auto` is decided by a speed probe on the machine).
# The recorded keys are the shared-artefact protocol's (the profiles' pretrain.draw: per-seed is newer):
# pretrain.draw=null must make exactly the keys cells and artefacts had before the setting existed.
SHARED = "pretrain.draw=null"
RUNS = [
    ("cpu bf16=false", "cpu", ["bf16=false", SHARED]),
    ("cpu bf16=true", "cpu", ["bf16=true", SHARED]),
    ("smoke dtype=float32", "smoke", ["dtype=float32", SHARED]),
    ("smoke dtype=float64", "smoke", ["dtype=float64", SHARED]),
]


def keys(profile: str, overrides: list[str], artifacts_dir: pathlib.Path) -> dict:
    """``{"cells": {describe: key}, "artifacts": {name: [hash, ...]}}`` as a dry run makes them; the
    artefacts are those the cells' methods would prepare (one prompt per method, one pseudo-labelling)."""
    from baselines import get_method
    from benchmark import runner
    from benchmark.commands._common import cell_settings, resolve_profile
    from benchmark.context import Context
    from benchmark.io import config_hash

    args = argparse.Namespace(profile=profile, overrides=list(overrides), seeds=None)
    cfg = resolve_profile(args, stream=io.StringIO())
    cells = runner.expand(SUITE, cell_settings(args, cfg), plan=cfg)
    artifacts: dict[str, set] = {}
    for cell in cells:
        ctx = Context(cell.config, progress=False, artifacts_dir=artifacts_dir)
        method = get_method(cell.method)
        if method.artifact_kind:
            artifacts.setdefault(f"{cell.method}-prompt", set()).add(config_hash(method.artifact_key(ctx)))
            artifacts.setdefault("pseudo-labels", set()).add(config_hash(ctx.pseudo_labelled_key()))
    return {"cells": {c.describe(): c.key for c in cells},
            "artifacts": {name: sorted(hashes) for name, hashes in artifacts.items()}}


def all_keys(artifacts_dir: pathlib.Path) -> dict:
    return {label: keys(profile, overrides, artifacts_dir) for label, profile, overrides in RUNS}


def test_dry_run_cell_and_artefact_keys_are_unchanged(tmp_path):
    want = json.loads(FIXTURE.read_text())
    got = all_keys(tmp_path)
    assert sorted(got) == sorted(want)
    for label in want:
        assert got[label]["cells"] == want[label]["cells"], label
        assert got[label]["artifacts"] == want[label]["artifacts"], label


def test_helper_makes_the_keys_the_dry_run_prints(tmp_path, capsys):
    """The helper above is the CLI's path: its keys are the ones `run --dry-run` lists."""
    from benchmark.cli import main

    assert main(["run", "--suite", SUITE, "--profile", "smoke", "--dry-run", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        status, key, describe = line.split()
        printed[describe] = key
    assert printed == keys("smoke", [], tmp_path / "a")["cells"]


def test_a_balanced_few_shot_draw_keeps_the_key_of_cells_made_before_the_setting():
    """``few_shot: balanced`` is how every cell was drawn before the setting existed, so it leaves the
    key as it was; the paper's random draw is another split and another key."""
    from benchmark import config
    from benchmark.runner import Cell

    cfg = {k: v for k, v in config.load_profile("cpu").items() if k != "few_shot"}
    before = Cell("sentiment7", "pt", "sst2", 0, {}, cfg).key
    assert Cell("sentiment7", "pt", "sst2", 0, {}, dict(cfg, few_shot="balanced")).key == before
    assert Cell("sentiment7", "pt", "sst2", 0, {}, dict(cfg, few_shot="random")).key != before


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        FIXTURE.write_text(json.dumps(all_keys(pathlib.Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"recorded {FIXTURE}")
