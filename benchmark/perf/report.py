"""The targets a run is judged by, and its Markdown page."""
from __future__ import annotations

import json
import math
import pathlib

from benchmark.perf.bank import markdown_lines as bank_lines, ppt_draws_markdown
from benchmark.perf.maml_bank import markdown_lines as maml_bank_lines

TARGET_FRACTION = 0.50     # of the matmul ceiling of the precision the loop runs in
TARGET_MEMORY_MB = 3072    # the meta-step at K=10, m=4, 20 prompt tokens


def _ceiling(result: dict, bf16: bool) -> float:
    return result["ceiling"].get("bf16" if bf16 else "fp32", result["ceiling"]["fp32"])["gflops"]


def loops_in_use(result: dict) -> dict:
    """Each hot loop as a run uses it on this machine: tuning, scoring and FT at the precision
    ``bf16: auto`` chose (eager attention, as the backbone loads), the meta-step as Prompt-MAML runs
    it (MAMLConfig.bf16). Each with its fraction of that precision's ceiling and its profile."""
    auto_bf16 = result.get("auto_precision") == "bf16"
    out = {}

    def pick(rows, rate_key, unit):
        rows = [r for r in rows if r.get("bf16") is auto_bf16 and r.get("attention", "eager") == "eager"
                and not r.get("fp32_attention") and "previous" not in r.get("path", "")]
        return rows[0] if rows else None

    for key, rows, rate, unit in (("tune", (result.get("tune") or {}).get("rows", []), "steps_per_s", "steps/s"),
                                  ("score", (result.get("score") or {}).get("paths", []), "rows_per_s", "rows/s"),
                                  ("ft", (result.get("ft") or {}).get("rows", []), "steps_per_s", "steps/s")):
        row = pick(rows, rate, unit)
        if row:
            sdpa = next((r for r in rows if r.get("attention") == "sdpa"), None)
            out[key] = {"rate": row[rate], "unit": unit, "gflops_per_s": row["gflops_per_s"],
                        "precision": "bf16" if auto_bf16 else "fp32",
                        "fraction": row["gflops_per_s"] / _ceiling(result, auto_bf16), "profile": row.get("profile"),
                        "sdpa_speedup": (sdpa[rate] / row[rate]) if sdpa else None}
    meta = result.get("meta_step")
    if meta:
        row = next((v for v in meta["variants"] if v["variant"]["name"] == meta["default"]), None)
        if row:
            bf16 = row["variant"]["bf16"]
            out["meta"] = {"rate": row["median_s"], "unit": "s/step", "gflops_per_s": row["gflops_per_s"],
                           "precision": "bf16" if bf16 else "fp32",
                           "fraction": row["gflops_per_s"] / _ceiling(result, bf16),
                           "profile": row.get("profile"), "sdpa_speedup": None}
    return out


def targets(result: dict) -> dict:
    out = {}
    names = {"tune": "downstream prompt tuning", "score": "test-set scoring", "meta": "Prompt-MAML meta-step"}
    for key, loop in loops_in_use(result).items():
        if key not in names:
            continue
        frac = loop["fraction"]
        out[f"{key}_50pct_ceiling"] = {"target": TARGET_FRACTION, "measured": frac, "met": frac >= TARGET_FRACTION,
                                       "what": f"{names[key]} GFLOP/s / the {loop['precision']} matmul ceiling"
                                               + (f" (bound by {loop['profile']['bound_by']})"
                                                  if loop.get("profile") and frac < TARGET_FRACTION else "")}
    mem = result.get("memory")
    if mem:
        auto = next(r for r in mem["rows"] if r["chunk"].startswith("auto"))
        rss = auto["peak_rss_mb"] is not None and auto["rss_before_mb"] is not None
        peak = auto["peak_rss_mb"] - auto["rss_before_mb"] if rss else auto["saved_mb"]
        out["meta_step_memory"] = {"target": TARGET_MEMORY_MB, "measured": peak, "met": peak <= TARGET_MEMORY_MB,
                                   "what": "meta-step's own memory (" + ("peak RSS minus RSS before the step, the "
                                           "loaded model not counted" if rss else "saved activations") + ") at chunk "
                                           f"{auto['chunk']} (K={mem['k']}, m={mem['m']}, "
                                           f"{mem['prompt_tokens']} prompt tokens)", "lower_is_better": True}
    inits = result.get("bf16_inits")
    if inits:
        worst = min(r["cosine_bf16"] for r in inits["rows"])
        out["bf16_meta_grad_cosine"] = {"target": 0.99, "measured": worst, "met": worst >= 0.99,
                                        "what": "lowest cosine of the bf16 meta-gradient to float64's (vocab and "
                                                "embedding-scale normal init, both orders)"}
    return out


# --------------------------------------------------------------------------- report

def _f(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "–"
    return f"{x:,.{digits}f}"


def compiled_lines(comp: dict | None) -> list[str]:
    """The tune section's torch.compile comparison (``perf --compile``), or nothing."""
    if not comp:
        return []
    return ["", f"torch.compile of the frozen base model (inductor, dynamic shapes), {comp['precision']}, steps "
            f"alternating with eager on the same batches: eager {_f(comp['eager_median_s'], 3)} s/step, compiled "
            f"{_f(comp['compiled_median_s'], 3)} s/step (**{_f(comp['speedup'])}×**), "
            f"after {_f(comp['compile_s'], 0)} s of compiling; "
            f"gradient cosine to eager {comp['grad_cosine_eager']:.4f}."]


def markdown(result: dict, command: str | None = None) -> str:
    """The perf page: one section per measurement the result holds, in a fixed order."""
    lines = _header_lines(result, command)
    lines += _ceiling_lines(result)
    lines += _meta_lines(result)
    lines += _tune_lines(result)
    lines += _score_lines(result)
    lines += _sweep_lines(result)
    lines += _new_sections(result)
    lines += bank_lines(result)
    lines += ppt_draws_markdown(result)
    lines += maml_bank_lines(result)
    lines += _target_lines(result)
    return "\n".join(lines) + "\n"


def _header_lines(result: dict, command: str | None) -> list[str]:
    """The title and the machine, backbone, texts and load the numbers were measured on."""
    m, cfg = result["machine"], result["config"]
    dev = m.get("gpu") or (f"CPU ({m.get('cpu_model') or m.get('processor')}, {m['threads']} threads; "
                           f"{', '.join(m['cpu_flags'])})")
    lines = [f"# Performance: {result['backbone']['name']} on {result['device']}", ""]
    lines += [f"- device: {dev}; torch {m['torch']}, transformers {m.get('transformers')}, "
              f"learn2learn {m.get('learn2learn') or 'missing'}; git {m.get('git')}; {result['date']}; "
              f"wall {result['wall_s'] / 60:.1f} min",
              f"- backbone: {result['backbone']['name']} ({result['backbone']['params_m']:.1f}M parameters, "
              f"{result['backbone']['kind']}, attention {', '.join(result['backbone']['attn'])})",
              f"- texts: synthetic, {result['texts']['mean_tokens']:.1f} tokens on average "
              f"(median {result['texts']['median_tokens']:.0f}, max {result['texts']['max_tokens']}; "
              f"template included, max_length {cfg['max_length']})",
              f"- load average at start {_fmt_load(m.get('loadavg_start'))}, at end {_fmt_load(m.get('loadavg_end'))}"
              + (" (the machine was shared: absolute numbers are pessimistic; ratios are from the same run)"
                 if (m.get("loadavg_start") or [0])[0] > 0.75 * (m.get("cpu_count") or 1) and result["device"] == "cpu"
                 else "")]
    if m.get("learn2learn_note"):
        lines.append(f"- {m['learn2learn_note']}")
    if command:
        lines.append(f"- command: `{command}`")
    return lines


def _ceiling_lines(result: dict) -> list[str]:
    """The matrix-multiply peak every fraction of the ceiling is taken against."""
    lines = []
    lines += ["", "## Ceiling: matrix-multiply peak of this torch (the better of a run at the start and at the end)",
              "", "| dtype | n | GFLOP/s | at start | at end |", "|---|---:|---:|---:|---:|"]
    for k, v in result["ceiling"].items():
        lines.append(f"| {k} | {v['n']} | {_f(v['gflops'], 0)} | {_f(v.get('gflops_start'), 0)} | "
                     f"{_f(v.get('gflops_end'), 0)} |")
    return lines


def _meta_lines(result: dict) -> list[str]:
    """The Prompt-MAML meta-step engines against the reference."""
    lines = []
    ms = result.get("meta_step") or {"variants": [], "k": 0, "m": 0, "prompt_tokens": 0, "first_order": False,
                                      "repeats": 0}
    lines += [] if not ms["variants"] else [
              "", f"## Prompt-MAML meta-step (K={ms['k']}, m={ms['m']}, {ms['prompt_tokens']} prompt tokens "
              f"({ms.get('prompt_init', 'random')} init), "
              f"{'first' if ms['first_order'] else 'second'} order; median of {ms['repeats']}, interleaved)", "",
              "| engine | s/step | meta-steps/s | × reference | GFLOP/step | GFLOP/s | % of ceiling | peak MB "
              "| grad rel. err. vs ref. | grad cosine vs fp32 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in ms["variants"]:
        var = v["variant"]
        ceil = result["ceiling"].get("bf16" if var["bf16"] else "fp32", result["ceiling"]["fp32"])["gflops"]
        name = var["name"] + (" **(default)**" if var["default"] and "(default)" not in var["name"] else "")
        lines.append(f"| {name} | {_f(v['median_s'], 3)} | {_f(v['steps_per_s'], 3)} | "
                     f"{_f(v['speedup_vs_reference'])}× | {_f(v['flops'] / 1e9, 1)} | {_f(v['gflops_per_s'], 0)} | "
                     f"{_f(100 * v['gflops_per_s'] / ceil, 1)}% | {_f(v['peak_mb'], 0)} | "
                     f"{v['grad_rel_err_vs_reference']:.1e} | {v['grad_cosine_vs_fp32']:.5f} |")
    lines.append("")
    lines.append("% of ceiling: of the bf16 ceiling for bf16 rows, of the fp32 one for fp32 rows. GFLOP are the "
                 "executed matmul FLOPs (padding included) counted by torch's FlopCounterMode. "
                 + ("Peak MB: the CUDA allocator's peak above the loaded model." if result["device"].startswith("cuda")
                    else "Peak MB: the tensors autograd saved for backward (activations, each storage once)."))
    return lines


def _tune_lines(result: dict) -> list[str]:
    """The downstream prompt-tuning step at each precision (and torch.compile, when run)."""
    lines = []
    tn = result.get("tune") or {"rows": []}
    lines += [] if not tn["rows"] else [
              "", f"## Downstream prompt tuning (batch {tn['rows'][0]['batch']}, {tn['prompt_tokens']} prompt tokens, "
              "forward + backward + AdamW)", "",
              "| precision | s/step | steps/s | GFLOP/step | GFLOP/s | % of bf16 ceiling | % of own-dtype ceiling "
              "| grad cosine vs fp32 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in tn["rows"]:
        bf = result["ceiling"].get("bf16", {}).get("gflops")
        own = result["ceiling"].get(r["precision"].split()[0], result["ceiling"]["fp32"])["gflops"]
        lines.append(f"| {r['precision']} | {_f(r['median_s'], 3)} | {_f(r['steps_per_s'])} | "
                     f"{_f(r['gflop_per_step'], 1)} | {_f(r['gflops_per_s'], 0)} | "
                     f"{_f(100 * r['gflops_per_s'] / bf, 1) + '%' if bf else '–'} | "
                     f"{_f(100 * r['gflops_per_s'] / own, 1)}% | "
                     f"{r.get('grad_cosine_vs_fp32', float('nan')):.4f} |")
    lines += compiled_lines(tn.get("compiled"))
    return lines


def _score_lines(result: dict) -> list[str]:
    """Test-set scoring throughput per path."""
    lines = []
    sc = result.get("score") or {"paths": [], "rows": 0, "batch": 0}
    lines += [] if not sc["paths"] else [
              "", f"## Test-set scoring ({sc['rows']} rows, batch {sc['batch']}, no grad)", "",
              "| path | rows/s | GFLOP/s | predictions equal to fp32 |", "|---|---:|---:|---:|"]
    for p in sc["paths"]:
        lines.append(f"| {p['path']} | {_f(p['rows_per_s'], 1)} | {_f(p['gflops_per_s'], 0)} | "
                     f"{100 * p['agreement_with_fp32']:.1f}% |")
    return lines


def _sweep_lines(result: dict) -> list[str]:
    """How the meta-step cost grows with K, prompt and text length, and the fitted cost model."""
    lines = []
    if "sweep" in result:
        sw = result["sweep"]
        lines += ["", f"## How the meta-step cost grows ({sw['engine']}, m={sw['m']}, one run per point, "
                  "fixed-length rows)", "",
                  "| varied | K | prompt | text | rows × seq | s/step | peak MB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for p in sw["points"]:
            lines.append(f"| {p['axis']} | {p['k']} | {p['prompt_tokens']} | {p['text_tokens']} | "
                         f"{p['rows']} × {p['seq']} | {_f(p['time_s'], 3)} | {_f(p['peak_mb'], 0)} |")
        cm = sw["model"]
        if cm.get("chosen"):
            fit = cm["fits"][cm["chosen"]]
            extra = (f" + {cm['c_us_per_attention_pair']:.4f} µs × rows·seq²" if cm["chosen"] == "attention" else "")
            lines += ["", f"Cost model (least squares over the points): t ≈ {cm['a_s']:.3f} s + "
                      f"{cm['b_ms_per_token']:.4f} ms × tokens{extra}, tokens = 2·K·m·(prompt + text + template); "
                      f"R² = {fit['r2']:.4f}, largest relative error {100 * fit['max_rel_err']:.1f}%."]
    return lines


def _target_lines(result: dict) -> list[str]:
    """Each target, met or missed by how much."""
    lines = []
    if result.get("targets"):
        lines += ["", "## Targets", ""]
        for name, t in result["targets"].items():
            if t.get("lower_is_better"):
                verdict = "met" if t["met"] else f"missed by {_f(100 * (t['measured'] / t['target'] - 1), 0)}%"
                lines.append(f"- {t['what']}: {t['measured']:,.0f} MB (target ≤ {t['target']:,} MB): **{verdict}**")
                continue
            verdict = "met" if t["met"] else f"missed by {_f(100 * (1 - t['measured'] / t['target']), 0)}%"
            if name.startswith("meta_step_3x"):
                shown, want = f"{t['measured']:.2f}×", f"{t['target']:.0f}×"
            elif "cosine" in name:
                shown, want = f"{t['measured']:.4f}", f"{t['target']:.2f}"
            else:
                shown, want = f"{100 * t['measured']:.1f}%", f"{100 * t['target']:.0f}%"
            lines.append(f"- {t['what']}: {shown} (target ≥ {want}): **{verdict}**")
    return lines

def _fmt_load(x):
    return "–" if not x else "/".join(f"{v:.1f}" for v in x)


def write(result: dict, out: pathlib.Path, name: str, command: str | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / f"{name}.json", out / f"{name}.md"
    jpath.write_text(json.dumps(result, indent=1, default=str))
    mpath.write_text(markdown(result, command))
    return jpath, mpath


def _shares(p: dict | None) -> str:
    if not p:
        return "–"
    return " / ".join(f"{100 * p[k]:.0f}" for k in ("matmul", "attention", "elementwise/other", "python/overhead"))


def _memory_lines(result: dict) -> list[str]:
    """The memory-bounded meta-step: the chunk `auto` chose and each chunk's time, memory and error."""
    lines = []
    mem = result.get("memory")
    if mem:
        a = mem["auto"]
        lines += ["", f"## Memory-bounded meta-step (K={mem['k']}, m={mem['m']}, {mem['prompt_tokens']} prompt tokens, "
                  f"max_length {mem['max_length']}, {'first' if mem['first_order'] else 'second'} order; "
                  "one step each)", "",
                  f"auto: {a.get('activations_mb', '–')} MB of saved activations in the median task, "
                  f"taken as {a.get('task_mb', '–')} MB "
                  "per task (x1.5 double-backward temporaries, x1.25 for longer tasks), "
                  f"budget {a['budget_mb']:,.0f} MB "
                  "(1/8 of physical memory unless `maml.memory_budget_mb` is set)", "",
                  "| chunk (tasks per pass) | s/step | saved activations MB (largest chunk, weights excluded) "
                  "| peak RSS MB | RSS before MB "
                  "| meta-gradient rel. err. vs unchunked |", "|---|---:|---:|---:|---:|---:|"]
        for r in mem["rows"]:
            lines.append(f"| {r['chunk']} | {_f(r['time_s'], 2)} | {_f(r['saved_mb'], 0)} | "
                         f"{_f(r['peak_rss_mb'], 0)} | "
                         f"{_f(r['rss_before_mb'], 0)} | {r['grad_rel_err_vs_unchunked']:.1e} |")
    return lines


def _new_sections(result: dict) -> list[str]:
    """The bf16: auto decision, FT, the memory-bounded meta-step, bf16 at proper inits, and each hot loop
    against its ceiling.
    Long because each section is a short table; the longest one, the memory section, is its own function."""
    lines = []
    auto = result.get("bf16_auto") or {}
    if auto:
        from benchmark.precision import describe

        lines += ["", "## The precision `bf16: auto` chose on this machine", "", f"- {describe(auto)}",
                  f"- every fraction below is of the **{result.get('auto_precision')}** ceiling for tuning, scoring "
                  "and FT (the meta-step: of the ceiling of the precision Prompt-MAML runs in)"]
    ft = result.get("ft")
    if ft:
        lines += ["", f"## Full fine-tuning (batch {ft['rows'][0]['batch']}, every weight in AdamW)", "",
                  "| precision | attention | s/step | steps/s | GFLOP/step | GFLOP/s | % of own-dtype ceiling |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in ft["rows"]:
            lines.append(f"| {r['precision']} | {r['attention']} | {_f(r['median_s'], 3)} | {_f(r['steps_per_s'])} | "
                         f"{_f(r['gflop_per_step'], 1)} | {_f(r['gflops_per_s'], 0)} | "
                         f"{_f(100 * r['gflops_per_s'] / _ceiling(result, r['bf16']), 1)}% |")
    lines += _memory_lines(result)
    inits = result.get("bf16_inits")
    if inits:
        lines += ["", f"## bf16 meta-gradient at proper inits (K={inits['k']}; cosine to a float64 computation)", "",
                  f"Embedding rows: std {inits['embedding_std']:.3f}, mean row norm {inits['embedding_row_norm']:.2f}.",
                  "", "| init | order | prompt row norm | float32 cosine | bf16 cosine |", "|---|---|---:|---:|---:|"]
        for r in inits["rows"]:
            lines.append(f"| {r['init']} | {r['order']} | {r['prompt_row_norm']:.2f} | {r['cosine_float32']:.5f} | "
                         f"{r['cosine_bf16']:.4f} |")
    in_use = loops_in_use(result)
    if in_use:
        lines += ["", "## Each hot loop against the ceiling of the precision it runs in", "",
                  "| loop | precision | speed | GFLOP/s | % of ceiling | SDPA instead of eager | time in matmul / "
                  "attention / other ops / Python+overhead (%) | bound by |", "|---|---|---:|---:|---:|---:|---|---|"]
        names = {"tune": "prompt tuning", "score": "test-set scoring", "ft": "full fine-tuning", "meta": "meta-step"}
        for key, loop in in_use.items():
            p = loop.get("profile")
            if p and loop["fraction"] < TARGET_FRACTION:
                bound = p["bound_by"]
            else:
                bound = "–" if not p else "near the ceiling"
            lines.append(f"| {names[key]} | {loop['precision']} | {_f(loop['rate'], 2)} {loop['unit']} | "
                         f"{_f(loop['gflops_per_s'], 0)} | {_f(100 * loop['fraction'], 1)}% | "
                         f"{_f(loop['sdpa_speedup']) + '×' if loop['sdpa_speedup'] else '–'} | {_shares(p)} | "
                         f"{bound} |")
        lines += ["", "Shares from torch.profiler's per-op self time over one profiled run of the loop (attention: "
                  "batched matmuls, softmax and SDPA; matmul: the linear layers; Python+overhead: wall time outside "
                  "any aten op, the profiler's own cost included)."]
    return lines
