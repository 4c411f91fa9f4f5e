"""Sequential unlearning: deletion requests arriving over time (docs/sequential.md).

* :mod:`~salmubench.sequential.requests`: the request split (pure, seeded);
* :mod:`~salmubench.sequential.results`: the step / summary / reference files (pure pydantic, no torch:
  the leaderboard reads them);
* :mod:`~salmubench.sequential.metrics`: the metrics after each request (the evaluator's metric
  functions on row views);
* :mod:`~salmubench.sequential.api`: the public entry, ``unlearn_sequential`` (what
  ``salmubench.unlearn(..., requests=K)`` calls);
* :mod:`~salmubench.sequential.runner`: its loop, one method run per request.

Importing this package loads no torch.
"""
