"""Sequential unlearning: deletion requests arriving over time (docs/sequential.md).

* :mod:`~salmubench.sequential.requests`: the request split (pure, seeded);
* :mod:`~salmubench.sequential.results`: the step / summary / reference files (pure pydantic, no torch:
  the leaderboard reads them);
* :mod:`~salmubench.sequential.metrics`: the metrics after each request (the evaluator's metric
  functions on row views);
* :mod:`~salmubench.sequential.runner`: the loop behind ``salmubench.unlearn(..., requests=K)``.

Importing this package loads no torch.
"""
