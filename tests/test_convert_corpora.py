"""The real corpora of ``../shared/data``: the converters reproduce the data README's counts.

OntoNotes (2.7M tokens) is too large for the test suite and is checked by
``scripts/check_corpus_counts.py`` instead; ``test_convert_ontonotes.py`` converts three of
its real files.
"""

import pytest
from dtn_helpers import corpus_path

from spacy_dtn.convert import convert_conll2003, convert_iob

# From ../shared/data/README.md: (sentences, tokens, entities per type)
IOB_TABLES = {
    ("bc5cdr", "train"): (4560, 118170, {"Chemical": 5203, "Disease": 4182}),
    ("bc5cdr", "devel"): (4581, 117453, {"Chemical": 5347, "Disease": 4246}),
    ("bc5cdr", "test"): (4797, 124750, {"Chemical": 5385, "Disease": 4424}),
    ("ncbi-disease", "train"): (5424, 135701, {"Disease": 5134}),
    ("ncbi-disease", "devel"): (923, 23969, {"Disease": 787}),
    ("ncbi-disease", "test"): (940, 24497, {"Disease": 960}),
    ("bc2gm", "train"): (12574, 355405, {"GENE": 15197}),
    ("bc2gm", "devel"): (2519, 71042, {"GENE": 3061}),
    ("bc2gm", "test"): (5038, 143465, {"GENE": 6325}),
}
# (documents, sentences, tokens, entities per type)
CONLL2003 = {
    "eng.train": (946, 14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
    "eng.testa": (216, 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    "eng.testb": (231, 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
}


def _clean(summary):
    return (
        summary.skipped,
        summary.repaired,
        summary.dropped_duplicate,
        summary.dropped_overlap,
    ) == (0, 0, 0, 0)


@pytest.mark.slow
@pytest.mark.parametrize("corpus,split", list(IOB_TABLES), ids=["/".join(k) for k in IOB_TABLES])
def test_iob_tables(corpus, split):
    path = corpus_path(corpus, f"{split}.tsv")
    docs, summary = convert_iob(path)
    n_docs = sum(1 for _ in docs)
    sentences, tokens, entities = IOB_TABLES[corpus, split]
    assert (summary.scheme, summary.sentences, n_docs, summary.tokens) == (
        "IOB2",
        sentences,
        sentences,
        tokens,
    )
    assert dict(summary.entities) == entities
    assert _clean(summary)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONLL2003))
def test_conll2003(name):
    path = corpus_path("conll2003", name)
    docs, summary = convert_conll2003(path, doc_per_document=True)
    n_docs = sum(1 for _ in docs)
    documents, sentences, tokens, entities = CONLL2003[name]
    assert (summary.scheme, summary.documents, n_docs) == ("IOB1", documents, documents)
    assert (summary.sentences, summary.tokens, dict(summary.entities)) == (
        sentences,
        tokens,
        entities,
    )
    assert _clean(summary)
