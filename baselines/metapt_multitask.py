"""Multi-task prompt training on MetaPT's meta tasks (Wu et al., 2022, "Continued Pretraining for Better
Zero- and Few-Shot Promptability"): the prompt trained on the summed loss of every meta task's rows,
no inner step (``benchmark.meta_algorithms.meta_step_multitask``). Whether MetaPT's gain comes from
the meta tasks or from meta-learning on them is the difference between this and MetaPT."""
from baselines.metapt import MetaPT


class MetaPTMultiTask(MetaPT):
    maml_settings = {"algorithm": "multitask"}

    def __init__(self, name="metapt_multitask", title="MetaPT multi-task", **kwargs):
        super().__init__(name, title, **kwargs)
