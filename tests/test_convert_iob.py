"""IOB tables: counts, scheme detection, round trips, and bad input (strict and lenient)."""

import pytest
from convert_helpers import write

from spacy_dtn.convert import ConversionError, convert_iob, docs_to_iob
from spacy_dtn.convert.tags import detect_scheme, from_biluo, to_biluo

IOB2 = """\
Selegiline\tB-Chemical
-\tO
induced\tO
postural\tB-Disease
hypotension\tI-Disease
.\tO

Lithium\tB-Chemical
and\tO
haloperidol\tB-Chemical
caused\tO
renal\tB-Disease
failure\tI-Disease
"""

IOB1 = """\
EU\tI-ORG
rejects\tO
German\tI-MISC
call\tO

Peter\tI-PER
Blackburn\tI-PER

In\tO
Bonn\tI-LOC
Paris\tB-LOC
London\tI-LOC
"""
IOB1_AS_IOB2 = [
    ["B-ORG", "O", "B-MISC", "O"],
    ["B-PER", "I-PER"],
    ["O", "B-LOC", "B-LOC", "I-LOC"],
]

IOBES = """\
Aspirin\tS-Chemical
causes\tO
gastric\tB-Disease
ulcer\tE-Disease
and\tO
severe\tB-Disease
renal\tI-Disease
failure\tE-Disease
"""


def tags_of(text):
    return [
        [line.split("\t")[1] for line in block.splitlines()] for block in text.strip().split("\n\n")
    ]


def convert(path, **kwargs):
    docs, summary = convert_iob(path, **kwargs)
    return list(docs), summary


def test_iob2_counts_and_round_trip(tmp_path):
    path = write(tmp_path / "train.tsv", IOB2)
    docs, summary = convert(path)
    assert summary.scheme == "IOB2"
    assert (summary.files_read, summary.sentences, summary.docs, summary.tokens) == (1, 2, 2, 12)
    assert dict(summary.entities) == {"Chemical": 3, "Disease": 2}
    assert summary.skipped == summary.repaired == summary.dropped_overlap == 0
    assert docs[0].text == "Selegiline - induced postural hypotension ."
    assert [(e.text, e.label_) for e in docs[1].ents] == [
        ("Lithium", "Chemical"),
        ("haloperidol", "Chemical"),
        ("renal failure", "Disease"),
    ]
    assert docs_to_iob(docs) == tags_of(IOB2)


def test_iob1_is_detected_and_normalised(tmp_path):
    path = write(tmp_path / "x.tsv", IOB1)
    docs, summary = convert(path)
    assert summary.scheme == "IOB1"
    assert (summary.sentences, summary.tokens) == (3, 10)
    assert dict(summary.entities) == {"ORG": 1, "MISC": 1, "PER": 1, "LOC": 2}
    assert docs_to_iob(docs) == IOB1_AS_IOB2
    # and back to IOB1 reproduces the input exactly
    assert docs_to_iob(docs, scheme="IOB1") == tags_of(IOB1)


def test_iobes_is_detected_and_round_trips(tmp_path):
    path = write(tmp_path / "x.tsv", IOBES)
    docs, summary = convert(path)
    assert summary.scheme == "IOBES"
    assert (summary.sentences, summary.tokens) == (1, 8)
    assert dict(summary.entities) == {"Chemical": 1, "Disease": 2}
    assert docs_to_iob(docs, scheme="IOBES") == tags_of(IOBES)
    assert docs_to_iob(docs) == [
        ["B-Chemical", "O", "B-Disease", "I-Disease", "O", "B-Disease", "I-Disease", "I-Disease"]
    ]


def test_scheme_flag_overrides_detection(tmp_path):
    # Read as IOB2, the I- tags of an IOB1 file continue nothing.
    path = write(tmp_path / "x.tsv", IOB1)
    with pytest.raises(ConversionError) as err:
        convert(path, scheme="IOB2")
    assert (err.value.path, err.value.line) == (str(path), 1)
    assert "continues nothing" in err.value.message


def test_detection_rules():
    assert detect_scheme([["O", "I-X", "I-X"]]) == "IOB1"
    assert detect_scheme([["B-X", "I-X"], ["I-Y"]]) == "IOB2"  # a fresh B- rules out IOB1
    assert detect_scheme([["I-X", "B-X"]]) == "IOB1"  # B- between two X entities is IOB1's B-
    assert detect_scheme([["S-X"]]) == "IOBES"
    assert detect_scheme([["O", "O"]]) == "IOB2"


def test_scheme_conversions_agree_with_spacy_biluo():
    iob1 = ["I-X", "I-X", "B-X", "O", "I-Y"]
    biluo = to_biluo(iob1, "IOB1")
    assert biluo == ["B-X", "L-X", "U-X", "O", "U-Y"]
    assert from_biluo(biluo, "IOB1") == iob1
    assert from_biluo(biluo, "IOB2") == ["B-X", "I-X", "B-X", "O", "B-Y"]
    assert from_biluo(biluo, "IOBES") == ["B-X", "E-X", "S-X", "O", "S-Y"]


def test_doc_per_document_uses_docstart(tmp_path):
    text = "-DOCSTART-\tO\n\n" + IOB2 + "\n-DOCSTART-\tO\n\nAspirin\tB-Chemical\n"
    docs, summary = convert(write(tmp_path / "x.tsv", text), doc_per_document=True)
    assert (summary.documents, summary.sentences, summary.docs, summary.tokens) == (2, 3, 2, 13)
    assert [len(list(doc.sents)) for doc in docs] == [2, 1]
    assert [t.is_sent_start for t in docs[0]][5:8] == [False, True, False]
    assert docs_to_iob(docs) == [tags_of(IOB2)[0] + tags_of(IOB2)[1], ["B-Chemical"]]


BAD = [
    ("unknown tag", "a\tO\n\nb\tO\nBonn\tLOCATION\n", 4, "unknown tag"),
    ("I- continues nothing", "a\tB-X\n\nb\tO\nc\tI-Y\n", 4, "continues nothing"),
    ("malformed line", "a\tO\nb\n", 2, "expected 2 or more tab-separated columns, found 1"),
    ("empty token", "a\tO\n\tO\n", 2, "malformed line: empty column"),
    ("IOBES not closed", "a\tS-X\n\nb\tB-Y\nc\tO\n", 3, "not closed"),
]


@pytest.mark.parametrize("name,text,line,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_and_line(tmp_path, name, text, line, message):
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"a\tO\n\ncaf\xe9\tO\n")
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.line, "not valid UTF-8" in err.value.message) == (3, True)


def test_lenient_skips_bad_sentences_and_counts_them(tmp_path):
    text = IOB2 + "\nx\tO\ny\tI-Chemical\n\nz\t\tB-Disease\n\nok\tB-Disease\n"
    path = tmp_path / "bad.tsv"
    path.write_bytes(text.encode() + b"\nbad\xff\tO\n")
    docs, summary = convert(path, lenient=True)
    assert (summary.sentences, summary.docs, summary.tokens, summary.skipped) == (3, 3, 13, 3)
    assert summary.details == {"skipped: sentences": 3}
    assert dict(summary.entities) == {"Chemical": 3, "Disease": 3}
    assert [p.split(": ")[0] for p in summary.problems] == [
        f"{path}:16",
        f"{path}:18",
        f"{path}:22",
    ]
