"""i2b2 2010 concepts and 2009 medications on synthetic notes in the release layout."""

import pytest
from convert_helpers import write

from spacy_dtn.convert import ConversionError, convert_i2b2_2009, convert_i2b2_2010

NOTE1 = """\
Admission Date :
Patient has chest pain and fever .
Started on aspirin
81 mg daily .

CT scan was negative .
"""
# unsorted, one duplicate, a shorter overlapping concept, the same span with another type,
# and a concept that crosses a line break
CON1 = """\
c="ct scan" 6:0 6:1||t="test"
c="chest pain" 2:2 2:3||t="problem"
c="fever" 2:5 2:5||t="problem"
c="aspirin 81 mg" 3:2 4:1||t="treatment"
c="chest pain" 2:2 2:3||t="problem"
c="pain" 2:3 2:3||t="problem"
c="chest pain" 2:2 2:3||t="test"
"""


@pytest.fixture
def release_2010(tmp_path):
    root = tmp_path / "concept_assertion_relation_training_data" / "beth"
    write(root / "txt" / "note1.txt", NOTE1)
    write(root / "concept" / "note1.con", CON1)
    write(root / "txt" / "note2.txt", "No complaints .\n")
    write(root / "concept" / "note2.con", "")
    write(root / "txt" / "note3.txt", "Not annotated .\n")
    return tmp_path


def convert_2010(path, **kwargs):
    docs, summary = convert_i2b2_2010(path, **kwargs)
    return list(docs), summary


def convert_2009(path, **kwargs):
    docs, summary = convert_i2b2_2009(path, **kwargs)
    return list(docs), summary


def test_2010_counts(release_2010):
    docs, summary = convert_2010(release_2010)
    assert (
        summary.files_read,
        summary.documents,
        summary.sentences,
        summary.docs,
        summary.tokens,
    ) == (4, 2, 6, 5, 25)
    assert dict(summary.entities) == {"problem": 2, "test": 1, "treatment": 1}
    assert (
        summary.merged,
        summary.dropped_duplicate,
        summary.dropped_overlap,
        summary.skipped,
    ) == (1, 1, 2, 0)
    assert summary.details == {
        "empty lines (no Doc)": 1,
        "notes without annotation file (not converted)": 1,
    }
    assert [d.text for d in docs] == [
        "Admission Date :",
        "Patient has chest pain and fever .",
        "Started on aspirin 81 mg daily .",
        "CT scan was negative .",
        "No complaints .",
    ]
    assert [(e.text, e.label_) for e in docs[1].ents] == [
        ("chest pain", "problem"),
        ("fever", "problem"),
    ]
    assert [(e.text, e.label_) for e in docs[2].ents] == [("aspirin 81 mg", "treatment")]
    assert [t.is_sent_start for t in docs[2]] == [True, False, False, True, False, False, False]


def test_2010_doc_per_document(release_2010):
    docs, summary = convert_2010(release_2010, doc_per_document=True)
    assert (summary.documents, summary.sentences, summary.docs, summary.tokens, summary.merged) == (
        2,
        6,
        2,
        25,
        0,
    )
    assert [s.text for s in docs[0].sents][2:] == [
        "Started on aspirin",
        "81 mg daily .",
        "CT scan was negative .",
    ]
    assert [e.text for e in docs[0].ents] == ["chest pain", "fever", "aspirin 81 mg", "CT scan"]


def test_2010_flat_folder_and_single_file(tmp_path):
    write(tmp_path / "a.txt", NOTE1)
    con = write(tmp_path / "a.con", CON1)
    for path in (tmp_path, con):
        docs, summary = convert_2010(path)
        assert (summary.files_read, summary.docs, summary.n_entities) == (2, 4, 4)


CON_ERRORS = [
    ('c="fever" 2:9 2:9||t="problem"', "offset 2:9 is past the end of line 2 (7 tokens)"),
    ('c="fever" 9:0 9:0||t="problem"', "offset 9:0 is past the end of the note (6 lines)"),
    ('c="fever" 2:5||t="problem"', "malformed concept line"),
    ('c="fever" 2:5 2:5||t="drug"', "unknown concept type 'drug'"),
    ('c="cough" 2:5 2:5||t="problem"', "concept text does not match the note tokens"),
    ('c="fever" 2:5 2:4||t="problem"', "ends before it starts"),
]


@pytest.mark.parametrize("line,message", CON_ERRORS)
def test_2010_bad_concepts(tmp_path, line, message):
    write(tmp_path / "a.txt", NOTE1)
    con = write(tmp_path / "a.con", 'c="fever" 2:5 2:5||t="problem"\n' + line + "\n")
    with pytest.raises(ConversionError) as err:
        convert_2010(tmp_path)
    assert (err.value.path, err.value.line) == (str(con), 2)
    assert message in err.value.message
    assert "fever" not in str(err.value) and "cough" not in str(err.value)  # no note text


def test_2010_text_shown_only_when_asked(tmp_path):
    write(tmp_path / "a.txt", NOTE1)
    write(tmp_path / "a.con", 'c="cough" 2:5 2:5||t="problem"\n')
    with pytest.raises(ConversionError, match="'cough' vs 'fever'"):
        convert_2010(tmp_path, show_text=True)


def test_2010_missing_note_and_bad_utf8(tmp_path):
    con = write(tmp_path / "concept" / "lost.con", 'c="fever" 2:5 2:5||t="problem"\n')
    with pytest.raises(ConversionError) as err:
        convert_2010(tmp_path)
    assert (err.value.path, err.value.line) == (str(con), None)
    assert "no note text lost.txt" in err.value.message
    docs, summary = convert_2010(tmp_path, lenient=True)
    assert (summary.docs, summary.skipped, summary.files_read) == (0, 1, 0)
    assert summary.problems == [f"{con}: no note text lost.txt found for this annotation file"]
    con.unlink()
    write(tmp_path / "concept" / "a.con", 'c="fever" 2:5 2:5||t="problem"\n')
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_bytes(NOTE1.encode().replace(b"fever", b"f\xe8ver"))
    with pytest.raises(ConversionError) as err:
        convert_2010(tmp_path)
    assert (err.value.path, err.value.line) == (str(tmp_path / "txt" / "a.txt"), 2)
    docs, summary = convert_2010(tmp_path, lenient=True)
    assert (summary.docs, summary.skipped, summary.files_read) == (0, 1, 1)
    assert summary.details == {"skipped: notes": 1}


def test_2010_lenient_counts_skipped_concepts(tmp_path):
    write(tmp_path / "a.txt", NOTE1)
    write(tmp_path / "a.con", CON1 + "\n".join(line for line, _ in CON_ERRORS) + "\n")
    docs, summary = convert_2010(tmp_path, lenient=True)
    assert summary.skipped == len(CON_ERRORS)
    assert dict(summary.entities) == {"problem": 2, "test": 1, "treatment": 1}
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in summary.problems] == [
        "8",
        "9",
        "10",
        "11",
        "12",
        "13",
    ]


# -- i2b2 2009 ---------------------------------------------------------------------------

NOTE_2009 = """\
Medications :
aspirin 81 mg po daily for pain .
lasix 40 mg iv bid mon-wed-fri
before hemodialysis .
coumadin 5 mg
po qhs for
two weeks .
"""
ENTRIES = [
    # 1: every field kind, e/t/c without offsets
    'm="aspirin" 2:0 2:0||do="81 mg" 2:1 2:2||mo="po" 2:3 2:3||f="daily" 2:4 2:4'
    '||du="nm"||r="pain" 2:6 2:6||e="nm"||t="nm"||c="nm"||ln="list"',
    # 2: a stray ||| and a discontinuous frequency over two lines (pieces stay on their lines)
    'm="lasix" 3:0 3:0||do="40 mg" 3:1 3:2||mo="iv" 3:3 3:3'
    '|||f="mon-wed-fri...before hemodialysis" 3:5 3:5,4:0 4:1'
    '||du="nm"||r="nm"||ln="narrative"',
    # 3: a duration that crosses a line break (lines 6 and 7 become one Doc)
    'm="coumadin" 5:0 5:0||do="5 mg" 5:1 5:2||mo="po" 6:0 6:0||f="qhs" 6:1 6:1'
    '||du="for two weeks" 6:2 7:1||r="nm"||ln="narrative"',
    # 4: duplicates of entry 1's medication and reason
    'm="aspirin" 2:0 2:0||do="nm"||mo="nm"||f="nm"||du="nm"||r="pain" 2:6 2:6||ln="list"',
    # 5: offset pairs separated by a space (a known defect); all three spans duplicate entry 2's
    'm="lasix" 3:0 3:0||do="nm"||mo="nm"||f="mon-wed-fri...before hemodialysis" 3:5 3:5 4:0 4:1'
    '||du="nm"||r="nm"||ln="narrative"',
    # 6: a reason inside entry 2's frequency piece "before hemodialysis" (overlap)
    'm="lasix" 3:0 3:0||do="nm"||mo="nm"||f="nm"||du="nm"'
    '||r="hemodialysis" 4:1 4:1||ln="narrative"',
]


def test_2009_counts(tmp_path):
    write(tmp_path / "train" / "txt" / "1001.txt", NOTE_2009)
    write(tmp_path / "train" / "entries" / "1001.m", "\n".join(ENTRIES) + "\n")
    docs, summary = convert_2009(tmp_path)
    assert (
        summary.files_read,
        summary.documents,
        summary.sentences,
        summary.docs,
        summary.tokens,
    ) == (2, 1, 7, 6, 28)
    assert dict(summary.entities) == {
        "medication": 3,
        "dosage": 3,
        "mode": 3,
        "frequency": 4,
        "duration": 1,
        "reason": 1,
    }
    assert (
        summary.repaired,
        summary.merged,
        summary.dropped_duplicate,
        summary.dropped_overlap,
    ) == (2, 1, 6, 1)
    assert (summary.skipped, summary.discontinuous_pieces) == (0, 4)
    assert summary.details == {
        "repaired: stray |||": 1,
        "repaired: offset pairs separated by a space": 1,
        "medication entries": 6,
        "fields not mentioned (nm)": 16,
        "discontinuous fields": 2,
    }
    assert [(e.text, e.label_) for e in docs[2].ents] == [
        ("lasix", "medication"),
        ("40 mg", "dosage"),
        ("iv", "mode"),
        ("mon-wed-fri", "frequency"),
    ]
    assert [(e.text, e.label_) for e in docs[3].ents] == [("before hemodialysis", "frequency")]
    assert docs[5].text == "po qhs for two weeks ."
    assert [(e.text, e.label_) for e in docs[5].ents][-1] == ("for two weeks", "duration")


def test_2009_empty_field_is_repaired(tmp_path):
    write(tmp_path / "n.txt", NOTE_2009)
    write(tmp_path / "n.m", ENTRIES[0] + "||\n")
    docs, summary = convert_2009(tmp_path)
    assert (
        summary.repaired, summary.details["repaired: empty field"], summary.n_entities
    ) == (1, 1, 5)


def test_2009_entries_suffix_and_doc_per_document(tmp_path):
    write(tmp_path / "1002.txt", NOTE_2009)
    write(tmp_path / "1002.i2b2.entries", ENTRIES[2] + "\n")
    docs, summary = convert_2009(tmp_path, doc_per_document=True)
    assert (summary.docs, summary.sentences, summary.tokens, summary.n_entities) == (1, 7, 28, 5)
    assert len(list(docs[0].sents)) == 7


ENTRY_ERRORS = [
    ('m="aspirin" 2:0 2:0||do="81 mg" 2:1 2:9', "offset 2:9 is past the end of line 2 (8 tokens)"),
    ('m="aspirin" 2:0 2:0||do=81 mg 2:1 2:2', "malformed medication field"),
    ('m="aspirin" 2:0 2:0||zz="nm"', "unknown field 'zz'"),
    ('do="81 mg" 2:1 2:2', "entry without a medication (m) field"),
    ('m="aspirin" 2:0 2:0||do="81 mg"', "field 'do' has text but no offsets"),
    ('m="aspirin" 2:0 2:0||do="81 mg" 2:1 2:2;2:3 2:3', "malformed offsets in field 'do'"),
    ('m="aspirin" 2:0 2:0||ln="list" 2:1 2:1', "field 'ln' cannot have offsets"),
    ('m="heparin" 2:0 2:0', "field 'm' text does not match"),
]


@pytest.mark.parametrize("line,message", ENTRY_ERRORS)
def test_2009_bad_entries(tmp_path, line, message):
    write(tmp_path / "n.txt", NOTE_2009)
    path = write(tmp_path / "n.m", ENTRIES[0] + "\n\n" + line + "\n")
    with pytest.raises(ConversionError) as err:
        convert_2009(tmp_path)
    assert (err.value.path, err.value.line) == (str(path), 3)
    assert message in err.value.message
    assert "aspirin" not in str(err.value)


def test_2009_lenient_leaves_no_partial_counts(tmp_path):
    write(tmp_path / "n.txt", NOTE_2009)
    # the last entry is repaired (|||) before failing: neither its repair nor its entities count
    bad = 'm="lasix" 3:0 3:0|||do="40 mg" 3:1 3:9'
    write(
        tmp_path / "n.m",
        "\n".join([ENTRIES[0]] + [line for line, _ in ENTRY_ERRORS] + [bad]) + "\n",
    )
    docs, summary = convert_2009(tmp_path, lenient=True)
    assert (summary.skipped, summary.repaired, summary.n_entities) == (len(ENTRY_ERRORS) + 1, 0, 5)
    assert summary.details == {
        "skipped: medication entries": len(ENTRY_ERRORS) + 1,
        "medication entries": 1,
        "fields not mentioned (nm)": 1,
    }


def test_2009_missing_note(tmp_path):
    path = write(tmp_path / "entries" / "7.m", ENTRIES[0] + "\n")
    with pytest.raises(ConversionError) as err:
        convert_2009(tmp_path)
    assert err.value.path == str(path) and "no note text 7.txt" in err.value.message


def test_2009_not_utf8_entry_line(tmp_path):
    write(tmp_path / "n.txt", NOTE_2009)
    path = tmp_path / "n.m"
    path.write_bytes((ENTRIES[0] + "\n").encode() + ENTRIES[2].encode().replace(b"qhs", b"q\xffhs"))
    with pytest.raises(ConversionError) as err:
        convert_2009(tmp_path)
    assert (err.value.path, err.value.line) == (str(path), 2)
    docs, summary = convert_2009(tmp_path, lenient=True)
    assert (summary.skipped, summary.n_entities) == (1, 5)


@pytest.mark.parametrize(
    "field,frequencies,merged",
    [
        ('f="mon-wed-fri...before hemodialysis" 3:5 4:1', 1, 1),  # one pair over both texts
        ('f="mon-wed-fri before...hemodialysis" 3:5 3:5,4:0 4:1', 2, 0),  # texts cut elsewhere
    ],
)
def test_2009_text_check_when_pieces_do_not_line_up(tmp_path, field, frequencies, merged):
    write(tmp_path / "n.txt", NOTE_2009)
    write(tmp_path / "n.m", f'm="lasix" 3:0 3:0||{field}\n')
    docs, summary = convert_2009(tmp_path)
    assert (summary.entities["frequency"], summary.merged, summary.skipped) == (
        frequencies,
        merged,
        0,
    )
