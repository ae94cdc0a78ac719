"""MetaPT benchmark suite: meta-learned prompt tuning and its baselines."""
__version__ = "0.1.0"
RESULTS_FORMAT = 2  # bump when the result JSON changes incompatibly (benchmark.runner: what each format changed)
