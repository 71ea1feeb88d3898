"""``python -m spacy_dtn``: the command-line interface (typer), one command per module."""
import typer

from .annotate import annotate_cli
from .benchmark import benchmark_cli
from .compare import compare_cli
from .convert.cli import convert_cli, subsample_cli
from .evaluate import evaluate_cli
from .gates import gates_cli
from .grid import grid_cli
from .visualize import visualize_cli

app = typer.Typer(
    name="spacy_dtn",
    help="Dynamic Transfer Networks for low-resource NER in spaCy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("convert")(convert_cli)
app.command("subsample")(subsample_cli)
app.command("evaluate")(evaluate_cli)
app.command("benchmark")(benchmark_cli)
app.command("grid")(grid_cli)
app.command("compare")(compare_cli)
app.command("gates")(gates_cli)
app.command("annotate")(annotate_cli)
app.command("visualize")(visualize_cli)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
