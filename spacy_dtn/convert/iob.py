"""``token<TAB>tag`` tables (BC5CDR, NCBI-disease, BC2GM, ...) in IOB1, IOB2 or IOBES.

One token per line, a blank line between sentences, optional ``-DOCSTART-`` lines between
documents. Lines without a tab are split on whitespace. A line of three or more columns
(``token POS ... tag``) is read as spaCy's own ``ner`` converter reads it: the token is the
first column and the tag the last, the rest is not kept. The scheme is detected per file
(see :func:`spacy_dtn.convert.tags.detect_scheme`) unless given.
"""

from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .columns import convert_columns
from .summary import ConversionSummary

PathsArg = Union[str, Path, Sequence[Union[str, Path]]]


def as_paths(paths: PathsArg) -> list:
    """One path or several → a list of paths (directories are not expanded)."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def convert_iob(
    paths: PathsArg,
    scheme: Optional[str] = None,
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Docs from IOB tables, and the summary they fill.

    Returns ``(docs, summary)``: ``docs`` is a generator, and ``summary`` is complete once it
    has been consumed (this keeps a large corpus out of memory on its way into a DocBin).
    One Doc per sentence, or with ``doc_per_document`` one per ``-DOCSTART-`` document (a
    file without such lines is one document).
    """
    summary = ConversionSummary(format="iob")
    docs = convert_columns(
        as_paths(paths),
        summary,
        n_columns=2,
        tag_column=-1,
        tab_separated=True,
        more_columns=True,
        scheme=scheme,
        doc_per_document=doc_per_document,
        lenient=lenient,
        show_text=show_text,
        vocab=vocab,
    )
    return docs, summary
