"""``salmubench ls models|methods|metrics|attacks|presets``: list what is registered."""

from __future__ import annotations

import argparse
import importlib

from rich.console import Console
from rich.table import Table

KINDS = ("models", "methods", "metrics", "attacks", "presets")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ls", help="list models, methods, metrics, attacks or presets")
    parser.add_argument("kind", choices=KINDS)
    parser.set_defaults(func=run)


def _models() -> tuple[list[str], list[list[str]]]:
    from salmubench.models.factory import list_model_configs

    rows = []
    for name, cfg in list_model_configs().items():
        vis, txt = cfg["vision_cfg"], cfg["text_cfg"]
        rows.append([name, f"{vis['image_size']}px/{vis['patch_size']} w{vis['width']}x{vis['layers']}",
                     f"w{txt['width']}x{txt['layers']} ctx{txt['context_length']}", str(cfg["embed_dim"])])
    rows.append(["ViT-B-16 (open_clip)", "224px/16 w768x12", "w512x12 ctx77", "512"])
    return ["name", "vision", "text", "embed"], rows


def _methods() -> tuple[list[str], list[list[str]]]:
    try:
        api = importlib.import_module("salmubench.unlearning.registry")
    except ModuleNotFoundError:
        return ["name", "description"], [["(unlearning methods not installed yet)", ""]]
    return ["name", "description"], [[n, d] for n, d in api.list_methods()]


def _metrics() -> tuple[list[str], list[list[str]]]:
    from salmubench.evaluation.protocol import METRICS

    return (["key", "paper", "official key", "pillar", "target", "split"],
            [[m.key, m.display, m.official_key, m.pillar, m.target, m.split] for m in METRICS])


def _attacks() -> tuple[list[str], list[list[str]]]:
    from salmubench.attacks import load_attacks

    return (["name", "kind", "headline", "description"],
            [[n, s.kind, ", ".join(s.headline), s.summary] for n, s in load_attacks().items()])


def _presets() -> tuple[list[str], list[list[str]]]:
    try:
        presets = importlib.import_module("salmubench.data.generate.presets")
    except ModuleNotFoundError:
        return ["name", "description"], [["(data presets not installed yet)", ""]]
    return ["name", "description"], [[n, d] for n, d in presets.describe_presets()]


def run(args: argparse.Namespace) -> int:
    headers, rows = {"models": _models, "methods": _methods, "metrics": _metrics, "attacks": _attacks,
                     "presets": _presets}[args.kind]()
    table = Table(*headers, box=None, header_style="bold")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)
    return 0
