"""``python -m spacy_dtn`` and the ``spacy-dtn`` script: the app of :mod:`spacy_dtn.cli`."""
from .cli import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
