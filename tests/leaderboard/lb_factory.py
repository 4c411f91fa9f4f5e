"""Hand-made result files for the leaderboard tests (EvalResult objects built in code).

Imported by the tests as a plain module (pytest puts this folder on sys.path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmubench.attacks.results import (
    AttackDataset,
    AttackEntry,
    AttackResult,
    AttackValue,
    SuiteInfo,
    write_attack,
)
from salmubench.evaluation.protocol import METRICS, protocol_hash
from salmubench.evaluation.results import (
    Cost,
    DatasetInfo,
    EvalResult,
    MetricValue,
    ModelInfo,
    ProtocolInfo,
    RunInfo,
    write_result,
)
from salmubench.io_utils import atomic_write_json

# SALMUBENCH.md section 4 reference values (paper), in protocol order
COMPROMISED = dict(ret_fail=0.2361, assoc_str=0.3215, acs=0.951, id_zsc=0.0836, core_assoc=0.1827,
                   gen_know=0.638, inter_id_sim=0.3215, intra_id_sim=0.3213, vis_id_int=0.3052, frag_sim=0.2801)
CLEAN = dict(ret_fail=0.00081, assoc_str=0.1417, acs=0.602, id_zsc=0.0107, core_assoc=0.1514,
             gen_know=0.633, inter_id_sim=0.1428, intra_id_sim=0.1428, vis_id_int=0.3308, frag_sim=0.3091)
N_IDS, ROWS_PER_ID = 12, 4
ATTRS = ("city", "job", "phone", "email")


def identity_ids() -> list[str]:
    return [f"{i:08d}" for i in range(N_IDS) for _ in range(ROWS_PER_ID)]


def make_result(values: dict, role: str = "unlearned", name: str | None = None, method: str | None = None,
                budget: float | None = None, seed: int | None = None, sha: str = "a" * 64,
                fingerprint: str = "f" * 64, version: str = "1.0", phash: str | None = None,
                unlearn_seconds: float | None = None, base: str | None = "c" * 64,
                recipe: dict | None = None) -> EvalResult:
    metrics = {m.key: MetricValue(value=values[m.key], display=m.display, official_key=m.official_key,
                                  pillar=m.pillar, target=m.target) for m in METRICS if m.key in values}
    return EvalResult.model_construct(
        schema_="salmubench.result/1",
        protocol=ProtocolInfo(name="salmubench", version=version, hash=phash or protocol_hash()),
        dataset=DatasetInfo(root="/nonexistent", fingerprint=fingerprint, split_counts={"forget": N_IDS * ROWS_PER_ID},
                            preset="test"),
        model=ModelInfo(source=name or role, arch="salmu-test", checkpoint_sha256=sha, role=role,
                        base_checkpoint_sha256=None if role != "unlearned" else base, name=name),
        run=RunInfo(method=method, budget=budget, seed=seed, recipe=recipe),
        metrics=metrics,
        extras={"per_attribute": {a: {"n": ROWS_PER_ID * N_IDS // len(ATTRS),  # the evaluator's layout
                                      "ret_fail_mrr": values["ret_fail"] * (1 + 0.1 * i),
                                      "ret_fail_r_at_1": 0.0, "assoc_str": values["assoc_str"] - 0.01 * i}
                                  for i, a in enumerate(ATTRS)},
                "forget_identity_ids": identity_ids()},
        gen_know_source="zeroshot",
        seeds={},
        cost=Cost(eval_seconds=1.0, unlearn_seconds=unlearn_seconds,
                  train_seconds=100.0 if role in ("compromised", "clean") else None),
        env={},
        files={"official": "evaluation_x.json"},
        created_at="2026-01-01T00:00:00Z",
    )


def rows_for(values: dict, seed: int) -> tuple[dict, dict]:
    """Per-row arrays whose means are the headline values (values are updated for RetFail)."""
    rng = np.random.default_rng(seed)
    n = N_IDS * ROWS_PER_ID
    per_id = np.repeat(rng.normal(0, 0.05, N_IDS), ROWS_PER_ID)  # identity-level effect (clustered)
    assoc = values["assoc_str"] + per_id + rng.normal(0, 0.01, n)
    assoc += values["assoc_str"] - assoc.mean()
    core = values["core_assoc"] + rng.normal(0, 0.01, n)
    core += values["core_assoc"] - core.mean()
    ranks = np.maximum(1, np.round(1 / max(values["ret_fail"], 1e-3) * rng.uniform(0.2, 3, n))).astype(int)
    values = dict(values, ret_fail=float((1.0 / ranks).mean()))
    official = {"efficacy": {"1.1_RetFail": {"MRR": values["ret_fail"], "R@1": 0.0, "outcomes": ranks.tolist()},
                             "1.2_AssocStr": {"mean": values["assoc_str"], "scores": assoc.tolist()},
                             "1.5_CoreAssoc": {"mean": values["core_assoc"], "scores": core.tolist()}},
                "utility": {}}
    return values, official


def write(run_dir: Path, sub: str, result: EvalResult, official: dict | None = None) -> Path:
    out = run_dir / sub
    write_result(result, out)
    if official is not None:
        atomic_write_json(out / "evaluation_x.json", official)
    return out


# method name -> metric values, shaped after SALMUBENCH.md section 5 (5x budget)
METHODS = {
    "finetune": dict(COMPROMISED, ret_fail=0.003, assoc_str=0.16, acs=0.65, id_zsc=0.012, core_assoc=0.155,
                     gen_know=0.638, inter_id_sim=0.209, intra_id_sim=0.209),
    "direct_sim_min": dict(COMPROMISED, ret_fail=0.001, assoc_str=-0.40, acs=0.5, id_zsc=0.0, core_assoc=-0.3,
                           gen_know=0.615, inter_id_sim=-0.420, intra_id_sim=-0.425, vis_id_int=-0.1, frag_sim=0.0),
    "generic_captions": dict(COMPROMISED, ret_fail=0.2, assoc_str=0.30, acs=0.93, id_zsc=0.08, gen_know=0.637),
    "delete_salmu": dict(COMPROMISED, ret_fail=0.001, assoc_str=0.02, acs=0.55, id_zsc=0.01, core_assoc=0.12,
                         gen_know=0.632, inter_id_sim=0.023, intra_id_sim=0.023),
    "shuffled_captions": dict(COMPROMISED, ret_fail=0.004, assoc_str=0.15, acs=0.62, id_zsc=0.011,
                              core_assoc=0.152, gen_know=0.548, inter_id_sim=0.212, intra_id_sim=0.212),
}


# hand-made attack outcomes: attack -> (kind, headline keys); per row the raw (before, after) of each key
ATTACK_KINDS = {"relearn": ("recovery", ["ret_fail"]), "quantize": ("recovery", ["ret_fail@8bit", "ret_fail@4bit"]),
                "mia": ("measure", ["auc"])}
ATTACK_RAW = {
    "compromised": {"relearn": {"ret_fail": (0.24, 0.22)}, "quantize": {"ret_fail@8bit": (0.24, 0.24),
                                                                         "ret_fail@4bit": (0.24, 0.20)},
                    "mia": {"auc": (None, 0.99), "blind_auc": (None, 0.51)}},
    "clean": {"relearn": {"ret_fail": (0.001, 0.02)}, "quantize": {"ret_fail@8bit": (0.001, 0.001),
                                                                    "ret_fail@4bit": (0.001, 0.002)},
              "mia": {"auc": (None, 0.50), "blind_auc": (None, 0.51)}},
    # robust: stays near Clean under every attack
    "finetune": {"relearn": {"ret_fail": (0.003, 0.05)}, "quantize": {"ret_fail@8bit": (0.003, 0.003),
                                                                       "ret_fail@4bit": (0.003, 0.004)},
                 "mia": {"auc": (None, 0.55), "blind_auc": (None, 0.51)}},
    # shallow: relearning brings it back
    "delete_salmu": {"relearn": {"ret_fail": (0.001, 0.18)}, "quantize": {"ret_fail@8bit": (0.001, 0.001),
                                                                           "ret_fail@4bit": (0.001, 0.01)},
                     "mia": {"auc": (None, 0.62), "blind_auc": (None, 0.51)}},
}


def make_attack(result: EvalResult, raw: dict, seed: int = 0, suite_hash: str = "a" * 16,
                fingerprint: str = "f" * 64) -> AttackResult:
    """An attack.json for ``result``'s model with raw (before, after) values per attack and key."""
    entries = {name: AttackEntry(kind=ATTACK_KINDS[name][0], headline_keys=ATTACK_KINDS[name][1],
                                 values={k: AttackValue(before=b, after=a) for k, (b, a) in vals.items()})
               for name, vals in raw.items()}
    entries["paraphrase"] = AttackEntry(kind="recovery", available=False, reason="test: not available",
                                        headline_keys=["ret_fail"])
    return AttackResult(suite=SuiteInfo(version="1", hash=suite_hash, constants={}), seed=seed, model=result.model,
                        dataset=AttackDataset(root="/nonexistent", fingerprint=fingerprint, split_counts={},
                                              has_unseen=True),
                        protocol=result.protocol, attacks=entries, created_at="2026-01-01T00:00:00Z")


def attack_raw_for(name: str, seed: int) -> dict:
    """ATTACK_RAW of a row (methods not listed reuse the Compromised outcome), jittered by the seed."""
    base = ATTACK_RAW.get(name, ATTACK_RAW["compromised"])
    return {a: {k: (None if b is None else b + 0.001 * seed, v + 0.001 * seed) for k, (b, v) in vals.items()}
            for a, vals in base.items()}


def write_run(run_dir: Path, seeds=(0, 1), rows: bool = True, attacks: bool = False) -> Path:
    """A complete hand-made run: both references and every METHODS entry for each seed (with
    ``attacks``: an attack.json beside every result, from ATTACK_RAW)."""
    comp = make_result(COMPROMISED, role="compromised", name="compromised", sha="c" * 64)
    clean = make_result(CLEAN, role="clean", name="clean", sha="d" * 64)
    write(run_dir, "results/compromised", comp)
    write(run_dir, "results/clean", clean)
    if attacks:
        write_attack(make_attack(comp, attack_raw_for("compromised", 0)), run_dir / "results/compromised")
        write_attack(make_attack(clean, attack_raw_for("clean", 0)), run_dir / "results/clean")
    for i, (method, vals) in enumerate(METHODS.items()):
        for seed in seeds:
            jitter = {k: v + 0.001 * seed for k, v in vals.items()}
            official = None
            if rows:
                jitter, official = rows_for(jitter, 100 * i + seed)
            res = make_result(jitter, method=method, budget=5.0, seed=seed, name=f"{method}@5x/s{seed}",
                              sha=f"{i}{seed}".ljust(64, "0"), unlearn_seconds=10.0 + i)
            write(run_dir, f"results/{method}@5x-s{seed}", res, official)
            if attacks:
                write_attack(make_attack(res, attack_raw_for(method, seed)), run_dir / f"results/{method}@5x-s{seed}")
    return run_dir


# ---- sequential runs (docs/sequential.md): hand-made sequential.json files


def seq_curve(method: str, key: str, k: int, step: int, target: float, start: float) -> float:
    """A method's value after request ``step`` of ``k``: from ``start`` towards ``target`` as requests
    arrive; delete_salmu's utility sags in the middle (its worst step is step 2)."""
    frac = step / k
    value = start + (target - start) * frac
    if method == "delete_salmu" and key in ("gen_know", "pending_sim") and step == 2:
        value -= 0.05
    return value


def sequential_summary(method: str, seed: int = 0, k: int = 3, budget: float = 5.0, theta0: str = "previous"):
    """A hand-made SequentialSummary: the references' values per step (Clean / Compromised of lb_factory) and
    curves from the Compromised values to the method's METHODS values (others: Compromised's)."""
    from salmubench.evaluation.scoring import position
    from salmubench.sequential.results import (
        SEQ_METRICS,
        SeqCost,
        SeqDataset,
        SeqModels,
        SeqRequests,
        SeqRun,
        SeqStep,
        SequentialSummary,
        SeqValue,
        Theta0Info,
    )

    rows = [N_IDS * ROWS_PER_ID // k] * k
    rows[-1] += N_IDS * ROWS_PER_ID - sum(rows)
    final = {kk: v + 0.001 * seed for kk, v in METHODS.get(method, COMPROMISED).items()}
    steps = []
    for step in range(1, k + 1):
        metrics = {}
        for m in SEQ_METRICS:
            base = "assoc_str" if m.key == "pending_sim" else m.key
            comp, clean = COMPROMISED[base] + 0.01 * step, CLEAN[base]
            if m.key == "pending_sim":
                value = None if step == k else seq_curve(method, m.key, k, step, comp - 0.02, comp)
                comp_v = None if step == k else comp
                clean_v = None if step == k else clean
            else:
                value = seq_curve(method, m.key, k, step, final[base], COMPROMISED[base])
                if m.rows == "requested" and step < k:
                    value += 0.01 * step
                comp_v, clean_v = (comp, clean) if m.rows != "all" else (COMPROMISED[base], CLEAN[base])
            metrics[m.key] = SeqValue(value=value, n=rows[step - 1], clean=clean_v, compromised=comp_v,
                                      position=position(value, comp_v, clean_v))
        steps.append(SeqStep(step=step, step_seed=seed * 100 + step, rows=rows[step - 1], units=["x"],
                             requested_rows=sum(rows[:step]), pending_rows=sum(rows[step:]),
                             checkpoint_sha256=f"{step}".ljust(64, "e"), start_checkpoint_sha256=None,
                             optimizer_steps=2, cost={"unlearn_seconds": 4.0, "fwd_passes": 100, "bwd_passes": 50},
                             metrics=metrics, eval_seconds=0.5))
    return SequentialSummary(
        run=SeqRun(method=method, params={}, budget=budget, seed=seed, config_hash="h" * 16),
        requests=SeqRequests(k=k, unit="identity", seed=0, digest=f"d{k}".ljust(16, "d"), version=1, rows=rows,
                             units=[4] * k),
        theta0=Theta0Info(setting=theta0, role="teacher" if method == "delete_salmu" else None),
        models=SeqModels(arch="salmu-test", source="compromised", original_checkpoint_sha256="c" * 64,
                         clean_checkpoint_sha256="d" * 64, final_checkpoint_sha256=steps[-1].checkpoint_sha256),
        protocol=ProtocolInfo(name="salmubench", version="1.0", hash=protocol_hash()),
        dataset=SeqDataset(root="/nonexistent", fingerprint="f" * 64, forget_rows=sum(rows), retain_rows=10),
        steps=steps, cost=SeqCost(unlearn_seconds=12.0, fwd_passes=100 * k, bwd_passes=50 * k,
                                  optimizer_steps=2 * k, one_shot_steps=5, eval_seconds=1.5),
        created_at="2026-01-01T00:00:00Z")


def write_sequential(run_dir: Path, methods=("finetune", "delete_salmu"), k: int = 3, seeds=(0,),
                     budget: float = 5.0) -> Path:
    """``run_dir/sequential/<method>@5x-s<seed>-K<k>-identity/sequential.json`` for each method and seed."""
    from salmubench.sequential.results import write_record

    for method in methods:
        for seed in seeds:
            out = run_dir / "sequential" / f"{method}@{budget:g}x-s{seed}-K{k}-identity"
            out.mkdir(parents=True, exist_ok=True)
            write_record(sequential_summary(method, seed, k, budget), out / "sequential.json")
    return run_dir
