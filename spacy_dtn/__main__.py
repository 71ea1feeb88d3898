"""``python -m spacy_dtn`` and the ``spacy-dtn`` script: the app of :mod:`spacy_dtn.cli`."""
from .annotate import annotate_cli
from .cli import app

app.command("annotate")(annotate_cli)
from .cli import visualize  # noqa: E402,F401  (registered after annotate)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
