"""``attack(...)``: run the recovery attacks on one model and write its ``attack.json``.

References. Positions put the model between the Compromised and Clean references *after both went
through the same attacks*. ``references`` is a results folder holding ``compromised/`` and
``clean/`` (the pipeline's ``RUN_DIR/results``). For each role the reference's own
``attack.json`` there is used when it matches (same attack suite hash, seed and dataset
fingerprint, every requested attack present). Otherwise it is computed on the fly from the model
named in that folder's ``result.json`` (``model.source``) and written there, so the next call
reuses it; the pipeline attacks both references first, so it never needs this. A model that *is*
a reference (same checkpoint sha256) uses its own values. Without ``references`` the file holds
the raw values only (the leaderboard places them).

Constants. ``constants`` sets the tunable constants (the fine-tuning budget of ``relearn`` and
``benign_finetune``): a file written by :func:`salmubench.attacks.calibration.calibrate`, its record, or
a bare ``{attack: {key: value}}`` mapping; None: the module constants. The suite hash and the
recorded constants are the effective ones (the module defaults give today's hash), so a reference's
``attack.json`` made with other constants never matches; ``suite.chosen_on`` names the references they
were chosen on. References of another architecture than that are refused when a tunable attack runs
(``calibration.check_references``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from salmubench.attacks.base import (
    SUITE_VERSION,
    AttackContext,
    AttackOutput,
    get_attack,
    load_attacks,
    suite_constants,
    suite_hash,
)
from salmubench.attacks.calibration import Constants, check_references, resolve_constants
from salmubench.attacks.results import (
    ATTACK_FILE,
    AttackDataset,
    AttackEntry,
    AttackResult,
    AttackSummary,
    AttackValue,
    Headline,
    ReferenceInfo,
    SuiteInfo,
    read_attack,
    write_attack,
)
from salmubench.attacks.scoring import attack_headline, ordered, place, summarise
from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.views import load_without_holdouts
from salmubench.errors import ConfigError, ResultError
from salmubench.evaluation.protocol import PROTOCOL_NAME, PROTOCOL_VERSION, protocol_hash
from salmubench.evaluation.reference_cache import ReferenceCache
from salmubench.evaluation.results import ProtocolInfo
from salmubench.execution import ExecContext, exec_context
from salmubench.progress import OnProgress, Task
from salmubench.runtime import environment, torch_threads

REFERENCE_ROLES = ("compromised", "clean")


def resolve_attacks(attacks: str | Sequence[str] = "all") -> list[str]:
    """``"all"`` -> every registered attack; else the named ones (ConfigError with suggestions)."""
    names = [a.strip() for a in attacks.split(",")] if isinstance(attacks, str) else [str(a) for a in attacks]
    names = [a for a in names if a]
    if not names:
        raise ConfigError("attacks: expected 'all' or a comma-separated list of attack names")
    if names == ["all"]:
        return ordered(load_attacks().names())
    return list(dict.fromkeys(get_attack(n).name for n in names))


def load_attack_data(spec: str | os.PathLike | SalmuDataset) -> SalmuDataset:
    """The data the attacks may read: forget, retain_synth and the extra splits, never the holdouts."""
    return spec if isinstance(spec, SalmuDataset) else load_without_holdouts(spec, images="lazy")


def run_attacks(bundle: Any, data: SalmuDataset, names: Sequence[str], seed: int = 0,
                context: ExecContext | None = None, batch_size: int = 256, constants: Any = None
                ) -> tuple[dict[str, AttackOutput], dict[str, float]]:
    """Run the named attacks on a loaded model; returns (outputs, seconds per attack).

    ``context``: device, precision and progress callback (None: ``ExecContext()``, CUDA if available else
    CPU; bf16: fine-tuning and embedding under autocast, CUDA only).
    ``constants``: the tunable constants (module docstring; None: the module's).
    """
    from salmubench.evaluation.embed import EmbeddingBank

    context = (context or ExecContext()).resolved()
    bundle.model.to(context.device).eval()
    emb = EmbeddingBank(bundle, batch_size=batch_size, device=context.device, precision=context.precision)
    ctx = AttackContext(bundle=bundle, data=data, emb=emb, seed=seed, device=context.device, batch_size=batch_size,
                        on_progress=context.on_progress, constants=resolve_constants(constants).values,
                        precision=context.precision)
    outputs, seconds = {}, {}
    task = Task(context.on_progress, "attacks", len(names)).start()
    for name in names:
        ctx.name = name
        t0 = time.perf_counter()
        outputs[name] = get_attack(name).fn(ctx)
        seconds[name] = round(time.perf_counter() - t0, 3)
        task.advance(status=name)
    return outputs, seconds


def attack(model_spec: Any, data_dir: str | os.PathLike | SalmuDataset, out_dir: str | os.PathLike,
           references: str | os.PathLike | None = None, attacks: str | Sequence[str] = "all", seed: int = 0,
           context: ExecContext | None = None, arch: str | None = None, role: str | None = None,
           name: str | None = None, batch_size: int = 256, *, device: str | None = None, threads: int | None = None,
           on_progress: OnProgress | None = None, constants: Any = None) -> AttackResult:
    """Attack one model and write ``out_dir/attack.json`` (docs/attacks.md).

    Args:
        model_spec: model folder / ``local-dir:`` / ``hf-hub:`` id / checkpoint file (with ``arch``),
            or a loaded :class:`~salmubench.models.ClipBundle`.
        data_dir: dataset directory (its holdout splits are never opened).
        out_dir: where ``attack.json`` goes.
        references: results folder with ``compromised/`` and ``clean/`` (module docstring); None:
            raw values only.
        attacks: ``"all"`` or attack names.
        seed: the attack seed (the same for every model of a comparison).
        context: execution settings (:class:`salmubench.execution.ExecContext`: device, threads,
            progress callback with one event per attack and per fine-tuning step); not recorded in
            any key. The references, when attacked here, run under the same context.
        arch: open_clip architecture of a bare checkpoint file.
        role / name: provenance (default: the model folder's ``salmubench`` config).
        batch_size: embedding batch size (not recorded in any key).
        device / threads / on_progress: shorthands for the same fields of ``context`` (not both).
        constants: the tunable constants (module docstring): a calibration file or record, a mapping,
            or None (the module constants). References of another architecture than they were chosen
            on are refused in one line.
    """
    from salmubench.models import ClipBundle, load_model

    names, constants = resolve_attacks(attacks), resolve_constants(constants)
    if references is not None and not Path(references).is_dir():
        raise ResultError(f"references: no such results folder: {references}")
    if references is not None:
        check_references(constants, references, names)
    start, cpu = time.perf_counter(), time.process_time()
    context = exec_context(context, device=device, threads=threads, on_progress=on_progress).resolved()
    with torch_threads(context.threads):
        bundle = model_spec if isinstance(model_spec, ClipBundle) else load_model(model_spec, arch=arch,
                                                                                  device=context.device)
        data = load_attack_data(data_dir)
        outputs, seconds = run_attacks(bundle, data, names, seed, context, batch_size, constants)
        raw = {n: _raw(o) for n, o in outputs.items() if o.available}
        refs = None
        if references is not None:
            refs = {r: _reference(Path(references), r, data, seed, names, bundle.checkpoint_sha256, raw,
                                  context, batch_size, constants)
                    for r in REFERENCE_ROLES}
    cost = {"seconds": round(time.perf_counter() - start, 3), "cpu_seconds": round(time.process_time() - cpu, 3)}
    result = _build(model_spec, bundle, data, seed, outputs, seconds, refs, role, name, cost, constants)
    result.env["precision"] = context.precision
    write_attack(result, out_dir)
    return result


def _raw(out: AttackOutput) -> dict[str, tuple[float | None, float]]:
    return {k: (m.before, m.after) for k, m in out.values.items()}


def _reference(root: Path, role: str, data: SalmuDataset, seed: int, names: list[str], self_sha: str | None,
               self_raw: dict, context: ExecContext, batch_size: int, constants: Constants
               ) -> tuple[dict, ReferenceInfo]:
    """The raw attacked values of one reference: its ``attack.json`` when that matches
    (``evaluation.reference_cache``), else attacked now and written there (module docstring)."""
    folder = root / role
    path = folder / ATTACK_FILE
    cache = ReferenceCache(path, read=read_attack, write=None, matches=lambda ref: (  # a file without one is fp32
        _matches(ref, data, seed, names, constants) and ref.env.get("precision", "fp32") == context.precision))
    ref = cache.lookup()
    if ref is None:
        sha, source = _reference_model(folder, role, path)
        if self_sha and sha == self_sha:
            return self_raw, ReferenceInfo(checkpoint_sha256=sha, file="self")
        wanted = sorted(set(names) | (set(read_attack(path).attacks) if path.is_file() else set()))
        ref = attack(source, data, folder, attacks=wanted, seed=seed, role=role, name=role, context=context,
                     batch_size=batch_size, constants=constants)  # writes the reference's attack.json: the cache entry
    return ref.raw(), ReferenceInfo(checkpoint_sha256=ref.model.checkpoint_sha256, file=str(path))


def _matches(ref: AttackResult, data: SalmuDataset, seed: int, names: list[str], constants: Constants) -> bool:
    """A reference's attack file is reused only when made with the same effective constants (suite hash),
    seed, data and every requested attack."""
    return (ref.suite.hash == suite_hash(constants.values) and ref.seed == seed
            and ref.dataset.fingerprint == data.fingerprint and all(n in ref.attacks for n in names))


def _reference_model(folder: Path, role: str, path: Path) -> tuple[str | None, str]:
    """(checkpoint sha256, model source) of the reference evaluated in ``folder`` (its result.json)."""
    from salmubench.evaluation.results import RESULT_FILE, read_result

    if not (folder / RESULT_FILE).is_file():
        raise ResultError(f"references: no usable {path} and no {folder / RESULT_FILE} naming the {role} model "
                          f"to attack (evaluate the references first, with role {role!r})")
    res = read_result(folder)
    if res.model.role != role:
        raise ResultError(f"references: {folder / RESULT_FILE} is the result of a {res.model.role!r} model, "
                          f"not of the {role} reference")
    if not Path(res.model.source.removeprefix("local-dir:")).exists() and not res.model.source.startswith("hf-hub:"):
        raise ResultError(f"references: the {role} model {res.model.source} (from {folder / RESULT_FILE}) "
                          f"does not exist; attack it first or give its attack.json")
    return res.model.checkpoint_sha256, res.model.source


def _build(model_spec: Any, bundle: Any, data: SalmuDataset, seed: int, outputs: dict[str, AttackOutput],
           seconds: dict[str, float], refs: dict | None, role: str | None, name: str | None,
           cost: dict[str, float], constants: Constants) -> AttackResult:
    from salmubench.evaluation.evaluator import model_info

    entries, headlines = {}, {}
    for attack_name, out in outputs.items():
        spec = get_attack(attack_name)
        entry = AttackEntry(kind=spec.kind, available=out.available, reason=out.reason,
                            headline_keys=list(spec.headline), info=out.info, seconds=seconds[attack_name])
        placed = place(_raw(out), refs["compromised"][0].get(attack_name, {}),
                       refs["clean"][0].get(attack_name, {})) if refs and out.available else {}
        entry.values = {k: AttackValue(after=m.after, before=m.before, **placed.get(k, {}))
                        for k, m in out.values.items()}
        if refs and out.available:
            headlines[attack_name] = attack_headline(spec.kind, spec.headline, placed)
            entry.headline = Headline(**headlines[attack_name])
        entries[attack_name] = entry
    summary = AttackSummary(**summarise(headlines)) if refs else None
    manifest = data.manifest or {}
    return AttackResult(
        suite=SuiteInfo(version=SUITE_VERSION, hash=suite_hash(constants.values),
                        constants=suite_constants(constants.values), chosen_on=constants.chosen_on),
        seed=seed,
        model=model_info(model_spec, bundle, role, name),
        dataset=AttackDataset(root=str(data.root), fingerprint=data.fingerprint,
                              split_counts={k: len(v) for k, v in sorted(data.splits.items())},
                              has_unseen=data.has_split(S.UNSEEN), preset=manifest.get("preset")),
        protocol=ProtocolInfo(name=PROTOCOL_NAME, version=PROTOCOL_VERSION, hash=protocol_hash()),
        references={r: info for r, (_, info) in refs.items()} if refs else None,
        attacks=entries,
        summary=summary,
        cost=cost,
        env=environment(),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
