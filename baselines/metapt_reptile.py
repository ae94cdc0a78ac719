"""MetaPT trained by Reptile (Nichol, Achiam & Schulman, 2018, "On First-Order Meta-Learning
Algorithms") on the same meta tasks, rows and outer Adam as Prompt-MAML
(``benchmark.meta_algorithms.meta_step_reptile``)."""
from baselines.metapt import MetaPT


class MetaPTReptile(MetaPT):
    maml_settings = {"algorithm": "reptile"}

    def __init__(self, name="metapt_reptile", title="MetaPT Reptile", **kwargs):
        super().__init__(name, title, **kwargs)
