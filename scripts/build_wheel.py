"""Build a wheel of spacy_dtn into OUTPUT_DIR, beside the model package that requires it.

``en_dtn_clinical`` requires ``spacy_dtn``, which is on no package index: project.yml's
``package`` step leaves this wheel in ``packages/`` so that a clean virtual environment installs
the model from the files it writes (README, "Install and use the package")::

    python scripts/build_wheel.py packages

The build runs offline (``pip wheel --no-deps --no-build-isolation --no-index``: setuptools
from this environment) on a fresh copy of the sources in a temporary folder, so neither a stale
``build/`` of the working tree (modules since moved or deleted) gets into the wheel nor the
build leaves ``build/`` and ``*.egg-info`` behind. Earlier ``spacy_dtn-*.whl`` in OUTPUT_DIR
are removed: ``pip install packages/spacy_dtn-*.whl`` finds one wheel.
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer
from wasabi import msg

ROOT = Path(__file__).resolve().parents[1]
#: What setuptools reads to build the wheel (setup.cfg's long_description is README.md).
BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md")
PACKAGE = "spacy_dtn"


def build_wheel(output_dir: Path) -> Path:
    """The path of the wheel built into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spacy_dtn-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in BUILD_FILES:
            if (ROOT / name).is_file():
                shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / PACKAGE, src / PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        built = Path(tmp) / "wheel"
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "--quiet", "--wheel-dir", str(built), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            msg.fail(f"pip wheel failed (exit {done.returncode})", done.stdout + done.stderr,
                     exits=1)
        (wheel,) = built.glob(f"{PACKAGE}-*.whl")
        for old in output_dir.glob(f"{PACKAGE}-*.whl"):
            old.unlink()
        return Path(shutil.copy2(wheel, output_dir / wheel.name))


def main(output_dir: Path = typer.Argument(..., help="Where the wheel goes (packages/)")):
    wheel = build_wheel(output_dir)
    msg.good(f"Built {wheel}")


if __name__ == "__main__":
    typer.run(main)
