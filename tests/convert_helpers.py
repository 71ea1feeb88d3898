"""Helpers shared by the converter tests (``tests/test_convert_*.py``)."""

from pathlib import Path

import typer
from typer.testing import CliRunner

from spacy_dtn.cli.convert import convert_cli, subsample_cli



def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")
    return path


def cli_app() -> typer.Typer:
    """The two commands on a local typer app, exactly as ``spacy_dtn.cli`` registers them."""
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.command("convert")(convert_cli)
    app.command("subsample")(subsample_cli)
    return app


def run_cli(*args: str):
    """Run a command through typer's test runner; the result has ``exit_code`` and ``output``."""
    return CliRunner().invoke(cli_app(), [str(a) for a in args])
