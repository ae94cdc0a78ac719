"""Twin curves: the same stability curves made twice, under two arithmetics (``python -m benchmark
agree --curves A --against B``).

A stability curve (``curves.stability_curve``) records, at every validation, which validation rows
its prompt got right. Made again from the same key (split, start, schedule, tuning settings) on
another processor, or here under another processor's kernels (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX512_CORE``), it should give the same rows right if the protocol measures
the method and not the last bits of the arithmetic. Compared pair by pair, on validation rows only
(no test row is read):

- ``flips``: per validation, the share of validation rows right in one twin and wrong in the other
  (0 at step 0: the same start; it grows as the twins' trajectories part);
- the kept checkpoint under a selection rule (the profile's: cadence, patience, smoothing, window
  rule, replayed as ``fit`` runs it) and its held-out validation accuracy in each twin.

``arithmetic SD``: the spread one cell's held-out accuracy has from the arithmetic alone,
``sqrt(mean(d ** 2) / 2)`` over the pairs' differences ``d`` (each twin carries it once). Set beside
the between-seed SD of the same curves it says how much of a seed's spread is chaos.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np

from benchmark.calibrate.choice import cell_outcome, pooled_sd
from benchmark.errors import UserError
from benchmark.io import read_json


def load_curves(folder: pathlib.Path) -> dict:
    """``{point name: {"key", "result"}}`` of the stability curves under ``folder/points``."""
    pts = pathlib.Path(folder) / "points"
    if not pts.is_dir():
        raise UserError(f"{folder}: no points/ folder (a `python -m benchmark calibrate` output folder is needed)")
    out = {}
    for path in sorted(pts.glob("stab-*.json")):
        try:
            stored = read_json(path, checksum=True)
        except Exception as exc:   # noqa: BLE001 - one clear message names the file
            raise UserError(f"{path}: unreadable stability point ({exc})") from exc
        out[path.stem] = stored
    return out


def flips(a: dict, b: dict) -> list[float]:
    """Per validation, the share of validation rows right in exactly one of the two curves."""
    ca, cb = a.get("correct") or [], b.get("correct") or []
    if len(ca) != len(cb) or any(len(x) != len(y) for x, y in zip(ca, cb)):
        raise ValueError("the two curves validated other rows or at other steps")
    return [float(np.mean([p != q for p, q in zip(x, y)])) if x else 0.0 for x, y in zip(ca, cb)]


def compare_pair(a: dict, b: dict, rule: dict) -> dict:
    """Two curves of one key: flips per validation, and each twin's kept checkpoint under ``rule``."""
    if [s for s, _ in a["evaluations"]] != [s for s, _ in b["evaluations"]]:
        raise ValueError("the two curves validated at other steps")
    f = flips(a, b)
    oa, ob = cell_outcome(a, **rule), cell_outcome(b, **rule)
    return {"flips": f, "flips_last": f[-1], "flips_mean": float(np.mean(f[1:])) if len(f) > 1 else 0.0,
            "first_flip_step": next((s for (s, _), x in zip(a["evaluations"], f) if x > 0), None),
            "last_acc": [a["evaluations"][-1][1], b["evaluations"][-1][1]],
            "heldout": [oa["heldout"], ob["heldout"]], "kept_step": [oa["kept_step"], ob["kept_step"]]}


def group_of(key: dict) -> str:
    return f"{key.get('start')}|{key.get('task')}|lr{key.get('lr')}:{key.get('steps')}"


def compare_folders(first: pathlib.Path, second: pathlib.Path, rule: dict) -> dict:
    """Pair the stability curves of two calibration folders by point name; a name whose keys differ
    (another split, start or setting) is listed as not comparable, never compared."""
    a, b = load_curves(first), load_curves(second)
    shared = sorted(set(a) & set(b))
    if not shared:
        raise UserError(f"{first} and {second} share no stability curve (point names stab-*): run the same "
                        "`calibrate --stability-only` command into both")
    pairs, other_keys = [], []
    for name in shared:
        if a[name]["key"] != b[name]["key"]:
            other_keys.append(name)
            continue
        row = compare_pair(a[name]["result"], b[name]["result"], rule)
        pairs.append(dict(row, name=name, group=group_of(a[name]["key"]), seed=a[name]["key"].get("seed")))
    return {"pairs": pairs, "other_keys": other_keys, "only_first": sorted(set(a) - set(b)),
            "only_second": sorted(set(b) - set(a)), "rule": rule, "summary": summarise(pairs)}


def summarise(pairs: list[dict]) -> dict:
    """The arithmetic SD of held-out and last validation accuracy, the flips, and the between-seed SD
    of the first twins' held-out accuracy (pooled over groups) to set it against."""
    if not pairs:
        return {"pairs": 0}
    d_held = [p["heldout"][0] - p["heldout"][1] for p in pairs]
    d_last = [p["last_acc"][0] - p["last_acc"][1] for p in pairs]
    by_group: dict = {}
    for p in pairs:
        by_group.setdefault(p["group"], []).append(p["heldout"][0])
    return {"pairs": len(pairs),
            "arithmetic_sd_heldout": math.sqrt(float(np.mean(np.square(d_held))) / 2),
            "arithmetic_sd_last": math.sqrt(float(np.mean(np.square(d_last))) / 2),
            "between_seed_sd_heldout": pooled_sd(list(by_group.values())),
            "flips_last": float(np.mean([p["flips_last"] for p in pairs])),
            "flips_mean": float(np.mean([p["flips_mean"] for p in pairs])),
            "same_kept_step": int(sum(p["kept_step"][0] == p["kept_step"][1] for p in pairs)),
            "identical": int(sum(p["flips_last"] == 0 and p["flips_mean"] == 0 for p in pairs))}


def render(result: dict, first: str, second: str, env: dict) -> str:
    s, r = result["summary"], result["rule"]
    lines = [f"# Twin stability curves: {first} against {second}", "",
             f"- second twins made under: {', '.join(f'{k}={v}' for k, v in env.items()) or 'no arithmetic setting'}",
             f"- rule replayed (the profile's): validation every {r['cadence']} steps, patience {r['patience']}, "
             f"trailing mean of {r['smooth']}, full window {r['full_window']}, keep {r['pick']}",
             "- validation rows only (no test row is read)", ""]
    if not s.get("pairs"):
        lines.append("No pair of curves with equal keys.")
    else:
        lines += [f"**{s['pairs']} pairs.** Arithmetic SD of the held-out validation accuracy "
                  f"{100 * s['arithmetic_sd_heldout']:.1f} points (between seeds, same curves: "
                  f"{100 * s['between_seed_sd_heldout']:.1f}); of the last validation "
                  f"{100 * s['arithmetic_sd_last']:.1f}. Rows right in one twin only: "
                  f"{100 * s['flips_mean']:.1f} % on average over the validations, {100 * s['flips_last']:.1f} % "
                  f"at the last. Same kept step in {s['same_kept_step']} of {s['pairs']}; identical curves in "
                  f"{s['identical']}.", "",
                  "| curve | first flip at step | rows flipped, mean / last (%) | last val % | held-out val % "
                  "| kept step |", "|---|---:|---|---|---|---|"]
        for p in result["pairs"]:
            lines.append(f"| {p['name']} | {p['first_flip_step'] if p['first_flip_step'] is not None else 'none'} | "
                         f"{100 * p['flips_mean']:.1f} / {100 * p['flips_last']:.1f} | "
                         f"{100 * p['last_acc'][0]:.1f} / {100 * p['last_acc'][1]:.1f} | "
                         f"{100 * p['heldout'][0]:.1f} / {100 * p['heldout'][1]:.1f} | "
                         f"{p['kept_step'][0]} / {p['kept_step'][1]} |")
    for label, names in (("not comparable (other keys)", result["other_keys"]),
                         ("only in the first folder", result["only_first"]),
                         ("only in the second folder", result["only_second"])):
        if names:
            lines += ["", f"{label}: {', '.join(names)}"]
    return "\n".join(lines) + "\n"


def rule_of(tune: dict) -> dict:
    """The selection rule ``cell_outcome`` replays, from a profile's ``tune`` section (what ``fit``
    would run: TrainConfig's defaults where the profile is silent)."""
    from benchmark.train import TrainConfig

    cfg = TrainConfig(**tune)
    if not cfg.eval_every:
        raise UserError("the profile's tune.eval_every is not set (validation once an epoch): the replay "
                        "needs a cadence in steps; pass --profile with one")
    return {"cadence": int(cfg.eval_every), "patience": int(cfg.patience), "smooth": int(cfg.select_smooth),
            "full_window": bool(cfg.full_window), "pick": "latest"}
