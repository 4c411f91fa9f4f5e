"""``salmubench export-checkpoint MODEL OUT``: a plain open_clip checkpoint for the authors' evaluator."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-checkpoint", help="write a model as a plain open_clip .bin/.pt (the authors' evaluator's input)",
        description="Write MODEL's open_clip state dict as a plain torch checkpoint (plain CPU tensors: "
                    "torch.load(weights_only=True) reads it, open_clip.create_model(ARCH) + load_state_dict(strict=True) "
                    "accepts it) and print the architecture to use with it.")
    p.add_argument("model", metavar="MODEL",
                   help="model folder, local-dir:DIR, hf-hub:ORG/REPO or checkpoint file (with --arch)")
    p.add_argument("out", metavar="OUT",
                   help="a .bin or .pt file, or a folder (gets open_clip_pytorch_model.bin)")
    p.add_argument("--arch", default=None, help="open_clip architecture of a bare checkpoint (e.g. ViT-B-16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, then print the file, the architecture and (for one that is not open_clip's own) its config."""
    from salmubench.models.export import export_checkpoint

    done = export_checkpoint(args.model, args.out, arch=args.arch)
    print(f"wrote {done.path} ({done.tensors} tensors, sha256 {done.sha256[:12]})")
    print(f"arch: {done.arch}")
    if done.builtin:
        print(f"load it with open_clip.create_model_and_transforms({done.arch!r}, pretrained={str(done.path)!r})")
    else:
        print(f"{done.arch!r} is not an open_clip architecture: register its config first, "
              f"open_clip.add_model_config({str(done.model_config)!r}), then "
              f"open_clip.create_model_and_transforms({done.arch!r}, pretrained={str(done.path)!r})")
    return 0
