"""CoNLL-2003 column files: ``token POS chunk NER``, IOB1 or IOB2, ``-DOCSTART-`` documents.

The POS column is kept as ``token.tag_``; the chunk column is not kept (spaCy has no slot for
it and NER training does not use it). The NER scheme is detected per file unless given; the
original English files are IOB1.
"""

from typing import Iterator, Optional, Tuple

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .columns import convert_columns
from .iob import PathsArg, as_paths
from .summary import ConversionSummary


def convert_conll2003(
    paths: PathsArg,
    scheme: Optional[str] = None,
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Docs from CoNLL-2003 files and their summary (complete once the Docs are consumed).

    One Doc per sentence, or with ``doc_per_document`` one per ``-DOCSTART-`` document.
    """
    summary = ConversionSummary(format="conll2003")
    docs = convert_columns(
        as_paths(paths),
        summary,
        n_columns=4,
        tag_column=3,
        pos_column=1,
        tab_separated=False,
        scheme=scheme,
        doc_per_document=doc_per_document,
        lenient=lenient,
        show_text=show_text,
        vocab=vocab,
    )
    return docs, summary
