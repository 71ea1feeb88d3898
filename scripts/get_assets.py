"""Get the project's assets: local copies when ``vars.local_assets`` exists, else downloads.

With LOCAL present, every asset of ``project.yml`` whose ``dest`` lies under ``assets/`` and
whose file LOCAL holds (at the same path below it) is copied by weasel's own ``fetch_asset``
and checked against its MD5 ``checksum``; assets LOCAL lacks are listed and left alone.
Without LOCAL (any machine but the one with ``../shared/data``), it runs
``python -m weasel assets`` (what ``spacy project assets`` runs), which downloads the
declared URLs and checks the same checksums. Where that fails for want of a connection, it
ends with one line naming the fix (``--vars.local_assets DIR``) instead of weasel's traceback;
any other failure's output is passed on as weasel wrote it. ``--dry`` says which of the two
it would do.

    python scripts/get_assets.py ../shared/data [--dry]
"""
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import srsly
import typer
from wasabi import msg
from weasel.cli.assets import fetch_asset
from weasel.util import get_checksum

from spacy_dtn.cli._util import fail

DOWNLOAD = [sys.executable, "-m", "weasel", "assets", "."]

#: The last line of a traceback raised for want of a connection (requests, urllib3, Python),
#: as Python or rich print it: the exception's name, maybe with its module, at column 0.
CONNECTION_FAILURE = re.compile(
    r"^(?:[\w.]+\.)?(?:\w*Connection\w*Error|ConnectTimeout|ProxyError|NameResolutionError"
    r"|MaxRetryError):",
    re.M,
)
HOST = re.compile(r"host='([^']+)'")


def local_assets(local: Path, project: Path) -> List[dict]:
    """The assets of ``project`` under ``assets/`` with the file LOCAL holds for each."""
    found = []
    for asset in srsly.read_yaml(project).get("assets", []):
        dest = Path(asset["dest"])
        if dest.parts[:1] == ("assets",):
            found.append({**asset, "local": local.joinpath(*dest.parts[1:])})
    return found


def download(cwd: Path) -> None:
    """Run :data:`DOWNLOAD` in ``cwd``; on a connection failure, fail with the offline fix.

    Its progress goes to the terminal as it comes; only stderr is held back, to tell a
    connection failure (a one-line error: the corpora can be given locally instead) from any
    other, whose output is written out unchanged with its exit code.
    """
    done = subprocess.run(DOWNLOAD, cwd=cwd, stderr=subprocess.PIPE, text=True)
    if done.returncode == 0:
        sys.stderr.write(done.stderr)
        return
    if CONNECTION_FAILURE.search(done.stderr):
        host = HOST.search(done.stderr)
        where = f" to {host.group(1)}" if host else ""
        fail(f"Cannot download the assets (no connection{where}): pass --vars.local_assets DIR, "
             "a folder holding the corpora as <corpus>/<split>.tsv (e.g. ../shared/data)")
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)


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
        download(project.parent)
        return
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
