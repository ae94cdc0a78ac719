"""PT: plain prompt tuning from the profile's initial prompt (``prompt_init``: the paper's random
U[-0.5, 0.5] in ``paper``, vocabulary rows in ``cpu``; Lester et al., 2021), with no pre-training.
The paper leaves it out of Table 1 because it lags far behind; the benchmark shows it."""
from baselines.base import Method


class PromptTuning(Method):
    """Needs nothing shared: ``Method.run`` tunes a fresh prompt per seed."""
    name = "pt"
    title = "PT (the profile's prompt_init, no pre-training)"
    tunes = "prompt"
