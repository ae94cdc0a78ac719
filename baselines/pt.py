"""PT: plain prompt tuning from a random prompt (Lester et al., 2021). The paper leaves it out of
Table 1 because it lags far behind; the benchmark shows it."""
from baselines.base import Method, tune_downstream


class PromptTuning(Method):
    name = "pt"
    title = "PT (random init)"

    def run(self, ctx, task, seed):
        return tune_downstream(ctx, task, seed, init=None, method=self.name)
