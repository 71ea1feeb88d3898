"""``python -m spacy_dtn`` and the ``spacy-dtn`` script: the app of :mod:`spacy_dtn.cli`."""
from .annotate import annotate_cli
from .cli import app
from .gates import gates_cli
from .visualize import visualize_cli

app.command("gates")(gates_cli)
app.command("annotate")(annotate_cli)
app.command("visualize")(visualize_cli)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
