"""CoNLL-2003 columns: documents, POS as tag_, IOB1 → IOB2 round trip, bad input."""

import pytest
from convert_helpers import write

from spacy_dtn.convert import ConversionError, convert_conll2003, docs_to_iob

CONLL = """\
-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
1996-08-22 CD I-NP O

The DT B-NP O
European NNP I-NP I-ORG
Commission NNP I-NP I-ORG
said VBD B-VP O
"""
AS_IOB2 = [
    ["B-ORG", "O", "B-MISC", "O", "O"],
    ["B-PER", "I-PER"],
    ["B-LOC", "O"],
    ["O", "B-ORG", "I-ORG", "O"],
]


def convert(path, **kwargs):
    docs, summary = convert_conll2003(path, **kwargs)
    return list(docs), summary


def test_counts_pos_and_round_trip(tmp_path):
    docs, summary = convert(write(tmp_path / "eng.train", CONLL))
    assert summary.scheme == "IOB1"
    assert (
        summary.files_read,
        summary.documents,
        summary.sentences,
        summary.docs,
        summary.tokens,
    ) == (1, 2, 4, 4, 13)
    assert dict(summary.entities) == {"ORG": 2, "MISC": 1, "PER": 1, "LOC": 1}
    assert [t.tag_ for t in docs[0]] == ["NNP", "VBZ", "JJ", "NN", "."]
    assert docs_to_iob(docs) == AS_IOB2
    original = [
        [line.split()[3] for line in block.splitlines()]
        for block in CONLL.split("\n\n")
        if "DOCSTART" not in block
    ]
    assert docs_to_iob(docs, scheme="IOB1") == original


def test_docstart_at_the_end_only(tmp_path):
    # The shared copy of eng.train has no -DOCSTART- before its first document but one at the end.
    text = CONLL.replace("-DOCSTART- -X- -X- O\n\n", "", 1) + "\n-DOCSTART- -X- -X- O"
    docs, summary = convert(write(tmp_path / "eng.train", text))
    assert (summary.documents, summary.sentences, summary.tokens) == (2, 4, 13)


def test_doc_per_document(tmp_path):
    docs, summary = convert(write(tmp_path / "eng.train", CONLL), doc_per_document=True)
    assert (summary.documents, summary.sentences, summary.docs, summary.tokens) == (2, 4, 2, 13)
    assert [[s.text for s in doc.sents] for doc in docs] == [
        ["EU rejects German call .", "Peter Blackburn"],
        ["BRUSSELS 1996-08-22", "The European Commission said"],
    ]
    assert docs[1][2].tag_ == "DT"
    assert docs_to_iob(docs) == [AS_IOB2[0] + AS_IOB2[1], AS_IOB2[2] + AS_IOB2[3]]


def test_iob2_variant_is_detected(tmp_path):
    text = CONLL
    for first in (
        "I-ORG\nrejects",
        "I-MISC\ncall",
        "I-PER\nBlackburn",
        "I-LOC\n1996",
        "I-ORG\nCommission",
    ):
        text = text.replace(first, "B-" + first[2:])
    docs, summary = convert(write(tmp_path / "x", text))
    assert summary.scheme == "IOB2"  # a B- that starts an entity after O
    with pytest.raises(ConversionError) as err:
        convert(write(tmp_path / "y", text.replace("B-ORG\nrejects", "I-ORG\nrejects")))
    assert err.value.line == 3 and "continues nothing" in err.value.message


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("EU NNP B-NP I-ORG\nrejects VBZ O\n", 2, "expected 4 space-separated columns, found 3"),
        ("EU NNP B-NP I-ORG\nrejects VBZ B-VP ORG\n", 2, "unknown tag 'ORG'"),
    ],
)
def test_bad_input(tmp_path, text, line, message):
    path = write(tmp_path / "bad", text)
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message


def test_lenient(tmp_path):
    text = CONLL + "\nbroken line\n\nok NN B-NP O\n"
    docs, summary = convert(write(tmp_path / "x", text), lenient=True)
    assert (summary.sentences, summary.tokens, summary.skipped) == (5, 14, 1)
    assert summary.problems == [
        f"{tmp_path / 'x'}:22: malformed line: expected 4 space-separated columns, found 2"
    ]
