"""The repeated per-stage work of a run, without and with its removal (issue 15, item 2).

    python benchmarks/bench_stage_work.py --run RUN_DIR [--threads 2] [--repeats 3] \
        [--json benchmarks/results/bench_stage_work_mini.json]

On a finished ``salmubench run`` (its data and Compromised model), in one process (as a run's worker
runs stage after stage), median wall seconds over ``--repeats`` of:

* ``load_dataset``: every split's images read into memory vs ``images="lazy"`` (left in the shards);
* ``build_unlearn_data`` (what every unlearning stage does before its method): decoding forget + retain
  (tensor cache off) vs reading the tensor cache, each with and without the token memo;
* ``evaluate`` (cache of embeddings off, as a new model): tensor cache off vs warm;
* ``attack`` (all attacks, references from the run): tensor cache off vs warm.

"Without" clears the per-process token memo and sets ``SALMUBENCH_TENSOR_CACHE=off``; "with" uses a
tensor cache folder warmed once beforehand. The outputs are compared too: ``identical`` is True when
the tensors / result values of both sides are equal (bit for bit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import salmubench  # noqa: F401 - first (CPU numerics pin)


def _median(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3), out


def _clear_token_memo() -> None:
    from salmubench.data import torch_data

    torch_data._MEMO_BY_FINGERPRINT.clear()
    torch_data._MEMO_BY_OBJECT.clear()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    import torch

    from salmubench.attacks.api import attack
    from salmubench.data import load_dataset
    from salmubench.data.tensor_cache import ENV
    from salmubench.evaluation.evaluator import evaluate
    from salmubench.models import load_model
    from salmubench.pipeline.compare import stable
    from salmubench.unlearning.data import build_unlearn_data

    torch.set_num_threads(args.threads)
    data, model = args.run / "data", args.run / "models" / "compromised"
    work = Path(tempfile.mkdtemp(prefix="stage-work-"))
    warm_cache = work / "tensors"
    bundle = load_model(model)
    rows: dict[str, dict] = {}

    def side(off: bool, memo: bool):
        os.environ[ENV] = "off" if off else str(warm_cache)
        if not memo:
            _clear_token_memo()

    # load_dataset
    t_mem, _ = _median(lambda: load_dataset(data), args.repeats)
    t_lazy, _ = _median(lambda: load_dataset(data, images="lazy"), args.repeats)
    rows["load_dataset"] = {"memory_s": t_mem, "lazy_s": t_lazy}

    # build_unlearn_data
    def build(off: bool, memo: bool):
        def go():
            side(off, memo)
            return build_unlearn_data(load_dataset(data, images="lazy"), bundle.preprocess, bundle.tokenizer)
        return go

    side(False, True)
    build(False, True)()  # warm the tensor cache once
    t_before, before = _median(build(True, False), args.repeats)
    t_cache, _ = _median(build(False, False), args.repeats)
    t_after, after = _median(build(False, True), args.repeats)
    same = all(torch.equal(getattr(before, s).images, getattr(after, s).images)
               and torch.equal(getattr(before, s).tokens, getattr(after, s).tokens) for s in ("forget", "retain"))
    rows["build_unlearn_data"] = {"decode_s": t_before, "tensor_cache_s": t_cache,
                                  "tensor_cache_and_token_memo_s": t_after, "identical": same}

    # evaluate and attack (a model evaluated as new: embedding cache off)
    def ev(off: bool, tag: str):
        def go():
            side(off, not off)
            return evaluate(str(model), data, work / f"eval-{tag}", cache_dir=False, role="compromised", name="c")
        return go

    side(False, True)
    ev(False, "warm")()
    t_off, r_off = _median(ev(True, "off"), args.repeats)
    t_on, r_on = _median(ev(False, "on"), args.repeats)
    rows["evaluate"] = {"decode_s": t_off, "tensor_cache_s": t_on,
                        "identical": {k: v.value for k, v in r_off.metrics.items()} == {k: v.value for k, v in r_on.metrics.items()}}

    def at(off: bool, tag: str):
        def go():
            side(off, not off)
            return attack(str(model), data, work / f"attack-{tag}", references=args.run / "results", threads=args.threads)
        return go

    t_off, a_off = _median(at(True, "off"), args.repeats)
    t_on, a_on = _median(at(False, "on"), args.repeats)
    rows["attack"] = {"decode_s": t_off, "tensor_cache_s": t_on,
                      "identical": stable(a_off.model_dump(mode="json")["attacks"], work)
                      == stable(a_on.model_dump(mode="json")["attacks"], work)}

    result = {"schema": "salmubench.bench_stage_work/1", "run": str(args.run), "threads": args.threads,
              "repeats": args.repeats, "loadavg": os.getloadavg(), "rows": rows}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
