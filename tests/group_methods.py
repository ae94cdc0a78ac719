"""Prompt methods for the group tests: PT from another fresh prompt (the seed plus an offset), so a
group holds several prompts without building pre-training artefacts. Registered on import (in a
subprocess: ``METAPT_METHODS=group_methods`` with this folder on ``PYTHONPATH``)."""
from baselines import register
from baselines.base import Method, prepare_tuning
from benchmark.prompt import make_prompt


class OtherStart(Method):
    tunes = "prompt"

    def __init__(self, name: str, offset: int):
        self.name, self.title, self.offset = name, f"PT from the prompt of seed + {offset}", offset

    def tuning(self, ctx, task, seed):
        spec, _ = ctx.split(task, seed)
        init = make_prompt(ctx.backbone(), ctx.cfg, seed + self.offset, spec.label_words).weight.detach()
        return prepare_tuning(ctx, task, seed, init=init, method=self.name)


METHODS = [register(OtherStart("pt_b", 1000)), register(OtherStart("pt_c", 2000))]
