"""Get the project's assets: local copies when ``vars.local_assets`` exists, else downloads.

With LOCAL present, every asset of ``project.yml`` whose ``dest`` lies under ``assets/`` and
whose file LOCAL holds (at the same path below it) is copied by weasel's own ``fetch_asset``
and checked against its MD5 ``checksum``; assets LOCAL lacks are listed and left alone.
Without LOCAL (any machine but the one with ``../shared/data``), it runs
``python -m weasel assets`` (what ``spacy project assets`` runs), which downloads the
declared URLs and checks the same checksums. ``--dry`` says which of the two it would do.

    python scripts/get_assets.py ../shared/data [--dry]
"""
import subprocess
import sys
from pathlib import Path
from typing import List

import srsly
import typer
from wasabi import msg
from weasel.cli.assets import fetch_asset
from weasel.util import get_checksum

DOWNLOAD = [sys.executable, "-m", "weasel", "assets", "."]


def local_assets(local: Path, project: Path) -> List[dict]:
    """The assets of ``project`` under ``assets/`` with the file LOCAL holds for each."""
    found = []
    for asset in srsly.read_yaml(project).get("assets", []):
        dest = Path(asset["dest"])
        if dest.parts[:1] == ("assets",):
            found.append({**asset, "local": local.joinpath(*dest.parts[1:])})
    return found


def main(
    local: Path = typer.Argument(..., help="Folder holding the corpora (vars.local_assets)"),
    project: Path = typer.Option(Path("project.yml"), "--project", help="The project file"),
    dry: bool = typer.Option(False, "--dry", help="Say what would be done; copy or fetch nothing"),
) -> None:
    assets = local_assets(local, project) if local.is_dir() else []
    present = [a for a in assets if a["local"].is_file()]
    if not present:
        why = "has none of the assets" if local.is_dir() else "does not exist"
        msg.info(f"{local} {why}: downloading the declared assets ({' '.join(DOWNLOAD[1:])})")
        if dry:
            msg.text("would run: " + " ".join(["python"] + DOWNLOAD[1:]))
            return
        sys.exit(subprocess.run(DOWNLOAD, cwd=project.parent).returncode)
    if dry:
        for asset in present:
            msg.text(f"would copy {asset['local']} -> {asset['dest']}")
        return
    bad = []
    for asset in present:
        fetch_asset(project.parent, str(asset["local"].resolve()), Path(asset["dest"]),
                    asset.get("checksum"))
        checksum = asset.get("checksum")
        if checksum and get_checksum(project.parent / asset["dest"]) != checksum:
            bad.append(asset["dest"])
    missing = [a["dest"] for a in assets if a not in present]
    if missing:
        msg.info(f"not in {local} (left alone): {', '.join(missing)}")
    if bad:
        msg.fail(f"checksum mismatch: {', '.join(bad)}", exits=1)
    msg.good(f"{len(present)} assets copied from {local}")


if __name__ == "__main__":
    typer.run(main)
