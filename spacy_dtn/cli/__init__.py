"""The command-line interface, ``python -m spacy_dtn COMMAND`` (typer), as spaCy's ``spacy.cli``.

Importing a command module registers its command on :data:`app`; they are imported in the
order ``--help`` lists them.
"""
from . import convert  # noqa: F401  (convert, subsample)
from . import evaluate  # noqa: F401
from . import benchmark  # noqa: F401
from . import grid  # noqa: F401
from . import compare  # noqa: F401
from . import gates  # noqa: F401
from . import annotate  # noqa: F401
from . import visualize  # noqa: F401
from ._util import app

__all__ = ["app"]
