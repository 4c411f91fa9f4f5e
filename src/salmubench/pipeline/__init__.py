"""``salmubench run``: the whole benchmark as cached, resumable stages (docs/run.md).

``run_benchmark(RunConfig(...))`` generates data, trains the Compromised and Clean references,
evaluates them, unlearns with every method x budget x seed, evaluates each, and writes the
leaderboard and report. Stage functions are injectable (:class:`StageFns`) for tests; progress goes to
an optional view (``run_benchmark(cfg, view=...)``).
"""

from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.runner import RunReport, StageStatus, resolve_methods, run_benchmark
from salmubench.pipeline.stages import StageFns, real_stage_fns

__all__ = ["RunConfig", "RunReport", "StageFns", "StageStatus", "real_stage_fns", "resolve_methods",
           "run_benchmark"]
