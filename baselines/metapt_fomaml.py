"""MetaPT trained by first-order MAML (Finn et al., 2017, section 5.2): Prompt-MAML on the same meta
tasks with the second-order term of the meta-gradient dropped (``maml.first_order`` fixed true)."""
from baselines.metapt import MetaPT


class MetaPTFirstOrder(MetaPT):
    maml_settings = {"first_order": True}

    def __init__(self, name="metapt_fomaml", title="MetaPT FOMAML", **kwargs):
        super().__init__(name, title, **kwargs)
