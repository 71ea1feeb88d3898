"""Take the project's assets from a local folder instead of downloading them.

For every asset of ``project.yml`` whose ``dest`` lies under ``assets/``, the file at the same
relative path under LOCAL (default: the ``local_assets`` var, ``../shared/data``) is copied to
``dest``; the asset's MD5 ``checksum`` (spaCy's asset checksum) is checked when it has one.
Assets that LOCAL does not hold are listed and left alone (e.g. glove.6B.zip; i2b2 files are
yours to supply).

    python scripts/assets_local.py ../shared/data
"""
import hashlib
import shutil
from pathlib import Path

import srsly
import typer
from wasabi import msg


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(
    local: Path = typer.Argument(..., help="Folder holding the corpora (e.g. ../shared/data)"),
    project: Path = typer.Option(Path("project.yml"), "--project", help="The project file"),
) -> None:
    if not local.is_dir():
        msg.fail(f"local assets folder not found: {local}", exits=1)
    copied, missing, bad = [], [], []
    for asset in srsly.read_yaml(project).get("assets", []):
        dest = Path(asset["dest"])
        if dest.parts[:1] != ("assets",):
            continue
        source = local.joinpath(*dest.parts[1:])
        if not source.is_file():
            missing.append(str(dest))
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        checksum = asset.get("checksum")
        if checksum and md5(dest) != checksum:
            bad.append(str(dest))
        copied.append((str(source), str(dest), "md5 ok" if checksum else "no checksum"))
    msg.table(copied, header=("from", "to", "check"), divider=True)
    if missing:
        msg.info(f"not in {local} (left alone): {', '.join(missing)}")
    if bad:
        msg.fail(f"checksum mismatch: {', '.join(bad)}", exits=1)
    msg.good(f"{len(copied)} assets copied from {local}")


if __name__ == "__main__":
    typer.run(main)
