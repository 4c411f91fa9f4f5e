"""``salmubench ls models|methods|metrics|attacks|presets|recipes``: list what is registered."""

from __future__ import annotations

import argparse

KINDS = ("models", "methods", "metrics", "attacks", "presets", "recipes")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ls", help="list models, methods, metrics, attacks, presets or recipes")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--method", dest="methods", action="append", default=[], metavar="SPEC",
                        help="methods: also load an external method (path/to/file.py:Class or "
                             "package.module:Class), repeatable")
    parser.add_argument("--defaults", action="store_true",
                        help="methods: show each method's config defaults (read from its config class)")
    parser.set_defaults(func=run)


def _models(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.models.factory import list_model_configs

    rows = []
    for name, cfg in list_model_configs().items():
        vis, txt = cfg["vision_cfg"], cfg["text_cfg"]
        rows.append([name, f"{vis['image_size']}px/{vis['patch_size']} w{vis['width']}x{vis['layers']}",
                     f"w{txt['width']}x{txt['layers']} ctx{txt['context_length']}", str(cfg["embed_dim"])])
    rows.append(["ViT-B-16 (open_clip)", "224px/16 w768x12", "w512x12 ctx77", "512"])
    return ["name", "vision", "text", "embed"], rows


def _methods(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.unlearning.base import MethodConfig
    from salmubench.unlearning.registry import METHODS, get_method, load_methods, method_origin

    load_methods()
    for spec in args.methods:
        get_method(spec)  # registers it (one-line error if the spec is wrong)
    rows = []
    for name, cls in METHODS.items():
        row = [name, method_origin(cls), "yes" if cls.search_space else "no", cls.summary()]
        if args.defaults:
            shared = MethodConfig()
            cfg = cls.config_cls()
            own = {k: v for k, v in cfg.model_dump().items()
                   if k not in MethodConfig.model_fields or getattr(shared, k) != v}
            row[3] = ", ".join(f"{k}={v}" for k, v in own.items()) or "(shared defaults only)"
        rows.append(row)
    last = "defaults (beyond the shared MethodConfig ones)" if args.defaults else "description"
    return ["name", "origin", "tunable", last], rows


def _metrics(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.evaluation.protocol import METRICS

    return (["key", "paper", "official key", "pillar", "target", "split"],
            [[m.key, m.display, m.official_key, m.pillar, m.target, m.split] for m in METRICS])


def _attacks(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.attacks import load_attacks

    return (["name", "kind", "headline", "description"],
            [[n, s.kind, ", ".join(s.headline), s.summary] for n, s in load_attacks().items()])


def _presets(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.presets import PRESETS

    return ["name", "description"], [[n, p.description] for n, p in PRESETS.items()]


def _recipes(args: argparse.Namespace) -> tuple[list[str], list[list[str]]]:
    from salmubench.recipes import DEFAULT_RECIPE, describe_arch, load_recipe, recipe_names

    rows = []
    for name in recipe_names():
        recipe = load_recipe(name)
        mark = " (default)" if name == DEFAULT_RECIPE else ""
        made_for = describe_arch(recipe.tuned_on.model_dump() if recipe.tuned_on else None)
        rows.append([name + mark, recipe.selection, f"{recipe.budget:g}x" + (" only" if recipe.fixed_budget else ""),
                     str(recipe.version), str(len(recipe.methods)),
                     made_for if recipe.tuned else f"{made_for}, untuned"])
    return ["name", "selection", "budget", "version", "methods", "tuned on"], rows


def run(args: argparse.Namespace) -> int:
    from salmubench.cli.display import print_table

    listers = {"models": _models, "methods": _methods, "metrics": _metrics, "attacks": _attacks,
               "presets": _presets, "recipes": _recipes}
    headers, rows = listers[args.kind](args)
    print_table(headers, rows)
    if args.kind == "methods" and args.defaults:
        from salmubench.unlearning.base import MethodConfig

        shared = ", ".join(f"{k}={v}" for k, v in MethodConfig().model_dump().items())
        print(f"shared defaults (MethodConfig): {shared}")
    return 0
