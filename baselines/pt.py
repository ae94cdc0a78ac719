"""PT: plain prompt tuning from the profile's initial prompt (``prompt_init``: the paper's random
U[-0.5, 0.5] in ``paper``, vocabulary rows in ``cpu``; Lester et al., 2021), with no pre-training.
The paper leaves it out of Table 1 because it lags far behind; the benchmark shows it."""
from baselines.base import Method, tune_downstream


class PromptTuning(Method):
    name = "pt"
    title = "PT (the profile's prompt_init, no pre-training)"

    def run(self, ctx, task, seed):
        return tune_downstream(ctx, task, seed, init=None, method=self.name)
