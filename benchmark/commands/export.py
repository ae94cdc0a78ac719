"""``python -m benchmark export PROMPT_OR_ARTEFACT --peft DIR``: a learned prompt as a PEFT adapter.

A prompt the suite made (``prompt.safetensors``, or the artefact folder holding it) becomes a PEFT
prompt-tuning adapter that ``peft.PeftModel.from_pretrained(base_model, DIR)`` loads on the same
backbone. PEFT itself writes it (``save_pretrained``), so the files follow PEFT's format rather than a
copy of it. PEFT prepends the virtual tokens to the input embeddings with an all-ones mask, exactly as
the suite's scorer does, so the logits at the slot are the suite's (tested to 1e-5); the README
written beside the adapter says how the suite builds its input around the slot and which label words
the prompt was trained with.

Every check (the prompt file, its backbone and length, the output folder, PEFT installed) is made
before anything is written; the adapter is written to a temporary folder and moved into place whole.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import tempfile

from benchmark.errors import UserError

HELP = "export a learned prompt as a PEFT prompt-tuning adapter (adapter_config.json + weights + README)"


def add_arguments(parser) -> None:
    parser.add_argument("prompt", metavar="PROMPT_OR_ARTEFACT",
                        help="a prompt.safetensors file, or an artefact folder that holds one")
    parser.add_argument("--peft", metavar="DIR", required=True, help="folder to write the adapter into (new or empty)")
    parser.add_argument("--backbone", help="the backbone the adapter is for (default: the one the prompt was "
                                           "trained on); another backbone is refused")
    parser.add_argument("--length", type=int, help="refuse the prompt unless it has this many virtual tokens")
    parser.add_argument("--label-words", help="comma-separated label words to note in the README "
                                              "(default: from the prompt's metadata)")


def _prompt_file(arg: str) -> pathlib.Path:
    path = pathlib.Path(arg).expanduser()
    if path.is_dir():
        path = path / "prompt.safetensors"
    if not path.is_file():
        raise UserError(f"{arg!r} is neither a prompt file nor an artefact folder with prompt.safetensors")
    return path


def _label_words(meta: dict, given: str | None) -> list[str]:
    if given:
        return [w.strip() for w in given.split(",") if w.strip()]
    if meta.get("label_words"):
        return list(meta["label_words"])
    pool = ((meta.get("config") or {}).get("pretrain") or {}).get("labelled_pool")
    if pool:   # PPT and MetaPT prompts are trained on the labelled pool's verbalizer
        from benchmark import data
        try:
            return list(data.get_task(pool).label_words)
        except UserError:
            return []
    return []


def _hub_ref(backbone_name: str, bb) -> tuple[str, str | None]:
    """What ``base_model_name_or_path`` and ``revision`` should say: the hub id and commit when known."""
    from benchmark import backbones

    source = getattr(bb, "source", None) or {}
    entry = backbones.REGISTRY.get(backbone_name)
    if source.get("ref"):
        return source["ref"], source.get("revision_sha") or source.get("revision")
    if entry is not None and entry.source == "hub":
        return entry.ref, entry.revision
    return backbone_name, None


def _readme(*, prompt_path, meta, backbone_name, ref, revision, bb, n, words) -> str:
    from benchmark.backbones import TEMPLATE_END, TEMPLATE_MIDDLE

    if bb.kind == "decoder":
        layout = (f"input ids = {'[bos] + ' if bb.add_bos else ''}tokens(x) + tokens({TEMPLATE_MIDDLE!r}); "
                  f"the label word is the next token: read the logits at the last real position "
                  f"(index {n} + that position, since PEFT's output includes the {n} virtual tokens)")
    elif bb.kind == "encoder-decoder":
        layout = (f"encoder ids = tokens(x) + tokens({TEMPLATE_MIDDLE!r}) + [<extra_id_0>] + tokens({TEMPLATE_END!r}) "
                  f"+ [</s>]; decoder_input_ids = [decoder_start, <extra_id_0>]; the label word is scored "
                  f"at decoder position 1")
    else:
        layout = (f"ids = [CLS] + tokens(x) + tokens({TEMPLATE_MIDDLE!r}) + [MASK] + tokens({TEMPLATE_END!r}) + "
                  f"[SEP]; the label word is scored at the mask (index {n} + its position)")
    lines = [
        "# Soft prompt exported from metapt-bench", "",
        f"- method: {meta.get('method', '?')}", f"- backbone: {backbone_name} ({bb.kind}"
        + (f"; hub id {ref}" if ref != backbone_name else "") + (f" at {revision}" if revision else "") + ")",
        f"- virtual tokens: {n} x {bb.embed_dim}",
        f"- template: `x{TEMPLATE_MIDDLE} <X>{TEMPLATE_END if bb.kind != 'decoder' else ''}` "
        f"(hybrid prompt: the soft prompt, then the text, then the template; <X> is the slot)",
        "- label words (one token each, after a space): " + (", ".join(f"`{w}`" for w in words) if words
                                                             else "not recorded"),
        f"- special tokens are placed by the suite itself (tokeniser called with add_special_tokens=False): {layout}",
        f"- exported from: {prompt_path.name}", "",
        "```python",
        "from peft import PeftModel",
        f"model = PeftModel.from_pretrained(base_model, \"{'<this folder>'}\")   # base_model: {ref}",
        "logits = model(input_ids=ids, attention_mask=mask).logits   # then take the slot as above",
        "```", "",
        "The class is the label word whose logit at the slot is highest (the suite's verbalizer).", ""]
    return "\n".join(lines)


def export_peft(prompt_arg: str, out_dir: str, *, backbone: str | None = None, length: int | None = None,
                label_words: str | None = None) -> pathlib.Path:
    """Write the prompt at ``prompt_arg`` as a PEFT prompt-tuning adapter in ``out_dir``.
    Long because the checks of the prompt against the backbone come first and PEFT's model must be built around the
    prompt to save it."""
    from benchmark import backbones
    from benchmark.prompt import load_prompt

    prompt_path = _prompt_file(prompt_arg)
    weight, meta = load_prompt(prompt_path)
    if weight.dim() != 2:
        raise UserError(f"{prompt_path}: the prompt is {tuple(weight.shape)}, expected [tokens, dim]")
    n, dim = int(weight.shape[0]), int(weight.shape[1])
    trained_on = meta.get("backbone")
    name = backbone or trained_on
    if not name:
        raise UserError(f"{prompt_path}: the prompt's metadata names no backbone; give --backbone NAME")
    if backbone and trained_on and backbone != trained_on:
        raise UserError(f"{prompt_path} was trained on backbone {trained_on!r}, not {backbone!r}; a soft prompt "
                        f"only means something in the embedding space it was trained in")
    if length is not None and length != n:
        raise UserError(f"{prompt_path} has {n} virtual tokens, not the {length} asked for with --length")
    if meta.get("length") not in (None, n):
        raise UserError(f"{prompt_path}: its metadata says {meta['length']} tokens but the tensor has {n}")
    out = pathlib.Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--peft {out_dir!r} exists and is not an empty folder; choose a new one")
    try:
        import peft
    except ImportError:
        raise UserError("export --peft needs the optional `peft` package: pip install 'metapt-bench[peft]'") from None
    bb = backbones.load(name)
    if dim != bb.embed_dim:
        raise UserError(f"{prompt_path} has {dim}-dimensional vectors but backbone {name!r} embeds in "
                        f"{bb.embed_dim}: it was made for another backbone")
    words = _label_words(meta, label_words)
    if words:
        bb.label_token_ids(words)   # each must be one token of this backbone, as in the suite
    ref, revision = _hub_ref(name, bb)

    import torch
    task_type = {"decoder": "CAUSAL_LM", "encoder-decoder": "SEQ_2_SEQ_LM", "masked": "FEATURE_EXTRACTION"}[bb.kind]
    cfg = peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=n, token_dim=bb.embed_dim,
                                  num_transformer_submodules=1, prompt_tuning_init="RANDOM")
    model = peft.get_peft_model(bb.model, cfg)
    with torch.no_grad():
        model.prompt_encoder["default"].embedding.weight.copy_(weight.float())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(str(tmp))
        cfg_file = tmp / "adapter_config.json"
        adapter_cfg = json.loads(cfg_file.read_text())
        # PEFT takes these from the model, a local folder here: the hub id and commit are what a user loads
        adapter_cfg.update(base_model_name_or_path=ref, revision=revision)
        cfg_file.write_text(json.dumps(adapter_cfg, indent=2, sort_keys=True))
        (tmp / "README.md").write_text(_readme(prompt_path=prompt_path, meta=meta, backbone_name=name, ref=ref,
                                               revision=revision, bb=bb, n=n, words=words))
        if out.exists():
            out.rmdir()          # empty (checked above)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(args) -> int:
    out = export_peft(args.prompt, args.peft, backbone=args.backbone, length=args.length,
                      label_words=args.label_words)
    print(f"wrote PEFT prompt-tuning adapter to {out} (adapter_config.json, adapter_model.safetensors, README.md)")
    return 0
