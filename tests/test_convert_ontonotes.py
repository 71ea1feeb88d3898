"""OntoNotes (CoNLL-2012 ``.gold_conll``): trees, archives, splits, genres, pt/, bad input."""

import tarfile

import pytest
from convert_helpers import write
from dtn_helpers import corpus_path

from spacy_dtn.convert import ConversionError, convert_ontonotes, docs_to_iob

ROOT = "conll-formatted-ontonotes-5.0/data/{split}/data/english/annotations/{doc}.gold_conll"


def conll_file(doc_id, parts):
    """A ``.gold_conll`` text: ``parts`` is a list of parts, each a list of sentences, each a
    list of ``(word, ne)`` pairs; the other columns are filled as in the release."""
    out = []
    for p, sentences in enumerate(parts):
        out.append(f"#begin document ({doc_id}); part {p:03d}")
        for sentence in sentences:
            for i, (word, ne) in enumerate(sentence):
                cols = [doc_id, str(p), str(i), word, "NN", "*", "-", "-", "-", "-", ne, "-"]
                out.append("   ".join(cols))
            out.append("")
        out.append("#end document")
    return "\n".join(out) + "\n"


NW = [
    [
        [
            ("The", "*"),
            ("Jordanian", "(NORP)"),
            ("Minister", "*"),
            ("Khaled", "(PERSON*"),
            ("Al", "*"),
            ("Shraideh", "*)"),
            ("said", "*"),
            (".", "*"),
        ],
        [
            ("He", "*"),
            ("visited", "*"),
            ("New", "(GPE*"),
            ("York", "*)"),
            ("in", "*"),
            ("1999", "(DATE)"),
            (".", "*"),
        ],
    ],
    [[("Ten", "(CARDINAL)"), ("people", "*"), ("came", "*"), (".", "*")]],
]
PT = [
    [
        [("In", "*"), ("the", "*"), ("beginning", "*"), (".", "*")],
        [("God", "*"), ("created", "*"), (".", "*")],
    ]
]
BC = [[[("Hello", "*"), ("Bob", "(PERSON)"), (".", "*")]]]


@pytest.fixture
def tree(tmp_path):
    write(
        tmp_path / ROOT.format(split="train", doc="nw/wsj/00/wsj_0001"),
        conll_file("nw/wsj/00/wsj_0001", NW),
    )
    write(
        tmp_path / ROOT.format(split="train", doc="pt/nt/40/nt_4001"),
        conll_file("pt/nt/40/nt_4001", PT),
    )
    write(
        tmp_path / ROOT.format(split="test", doc="bc/cnn/00/cnn_0001"),
        conll_file("bc/cnn/00/cnn_0001", BC),
    )
    return tmp_path / "conll-formatted-ontonotes-5.0"


def convert(path, **kwargs):
    docs, summary = convert_ontonotes(path, **kwargs)
    return list(docs), summary


def test_train_split_counts(tree):
    docs, summary = convert(tree, split="train")
    assert (
        summary.files_read,
        summary.documents,
        summary.sentences,
        summary.docs,
        summary.tokens,
    ) == (2, 3, 5, 5, 26)
    assert dict(summary.entities) == {"NORP": 1, "PERSON": 1, "GPE": 1, "DATE": 1, "CARDINAL": 1}
    assert summary.groups == {"sentences per genre": {"nw": 3, "pt": 2}}
    assert [(e.text, e.label_) for e in docs[0].ents] == [
        ("Jordanian", "NORP"),
        ("Khaled Al Shraideh", "PERSON"),
    ]
    assert docs[0][0].tag_ == "NN"
    assert docs_to_iob(docs[:3]) == [
        ["O", "B-NORP", "O", "B-PERSON", "I-PERSON", "I-PERSON", "O", "O"],
        ["O", "O", "B-GPE", "I-GPE", "O", "B-DATE", "O"],
        ["B-CARDINAL", "O", "O", "O"],
    ]


def test_pt_has_missing_annotation_and_can_be_dropped(tree):
    docs, summary = convert(tree, split="train", genres=["pt"])
    assert (summary.files_read, summary.sentences, summary.tokens, summary.n_entities) == (
        1,
        2,
        7,
        0,
    )
    assert all(t.ent_iob_ == "" for doc in docs for t in doc)  # unannotated, not "O"
    assert docs_to_iob(docs, missing="-")[0] == ["-"] * 4
    docs, summary = convert(tree, split="train", drop_pt=True)
    assert (summary.files_read, summary.sentences, summary.tokens, summary.n_entities) == (
        1,
        3,
        19,
        5,
    )
    assert summary.details == {"files not selected (genre pt)": 1}
    assert all(t.ent_iob_ in ("O", "B", "I") for doc in docs for t in doc)
    with pytest.raises(ConversionError, match="no files left after the genre selection"):
        convert(tree, split="train", genres=["pt"], drop_pt=True)


def test_split_must_be_chosen_in_a_tree_with_several(tree):
    with pytest.raises(ConversionError, match="several splits .*--split"):
        convert(tree)
    docs, summary = convert(tree / "data" / "test")  # a folder of one split needs none
    assert (summary.files_read, summary.sentences, dict(summary.entities)) == (1, 1, {"PERSON": 1})


def test_single_file_and_doc_per_document(tree):
    path = tree / "data/train/data/english/annotations/nw/wsj/00/wsj_0001.gold_conll"
    docs, summary = convert(path, doc_per_document=True)
    assert (summary.documents, summary.sentences, summary.docs, summary.tokens) == (2, 3, 2, 19)
    assert [len(list(doc.sents)) for doc in docs] == [2, 1]
    assert [e.text for e in docs[0].ents] == ["Jordanian", "Khaled Al Shraideh", "New York", "1999"]


def test_archive_gives_the_same_docs_as_the_tree(tree, tmp_path):
    archive = tmp_path / "onto.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        # add the files in reverse order: the converter must sort them
        for path in sorted(tree.rglob("*.gold_conll"), reverse=True):
            tar.add(path, arcname=str(path.relative_to(tmp_path)))
    from_tree, s1 = convert(tree, split="train")
    from_archive, s2 = convert(archive, split="train")
    assert [d.text for d in from_archive] == [d.text for d in from_tree]
    assert s2.to_dict() == s1.to_dict()
    with pytest.raises(ConversionError, match="needs --split"):
        convert(archive)


def _bad(tmp_path, sentence_lines, extra=""):
    lines = ["#begin document (nw/x/00/x_0001); part 000"]
    for i, (word, ne) in enumerate(sentence_lines):
        lines.append(
            "   ".join(
                ["nw/x/00/x_0001", "0", str(i), word, "NN", "*", "-", "-", "-", "-", ne, "-"]
            )
        )
    text = "\n".join(lines) + "\n\n" + extra
    return write(tmp_path / "x.gold_conll", text)


@pytest.mark.parametrize(
    "sentence,extra,line,message",
    [
        ([("a", "(ORG*"), ("b", "*")], "#end document\n", 2, "opened but never closed"),
        ([("a", "*"), ("b", "*)")], "#end document\n", 3, "closed but never opened"),
        ([("a", "(ORG")], "#end document\n", 2, "malformed named-entity field"),
        ([("a", "*")], "", 1, "#begin document without #end document"),
        (
            [("a", "*")],
            "#end document\n#end document\n",
            5,
            "#end document without #begin document",
        ),
    ],
)
def test_bad_input(tmp_path, sentence, extra, line, message):
    path = _bad(tmp_path, sentence, extra)
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message


def test_short_line_and_lenient(tmp_path):
    text = (
        "#begin document (nw/x/00/x_0001); part 000\n"
        "nw/x/00/x_0001 0 0 short NN * - - - (ORG)\n"  # 10 columns: no named-entity column
        "\n"
        "#end document\n"
        "#begin document (nw/x/00/x_0001); part 001\n"
        "#begin document (nw/x/00/x_0001); part 002\n"
        "nw/x/00/x_0001 2 0 ok NN * - - - - (ORG) -\n"
        "\n"
        "#end document\n"
    )
    path = write(tmp_path / "x.gold_conll", text)
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.line, err.value.message) == (
        2,
        "malformed line: expected at least 11 columns, found 10",
    )
    docs, summary = convert(path, lenient=True)
    assert (summary.skipped, summary.sentences, summary.documents, dict(summary.entities)) == (
        2,
        1,
        1,
        {"ORG": 1},
    )
    assert summary.details == {
        "skipped: sentences": 1,
        "skipped: document markers": 1,
        "empty parts": 2,
    }
    assert [p.split(": ", 1)[0] for p in summary.problems] == [f"{path}:2", f"{path}:6"]


@pytest.mark.slow
def test_real_files_from_the_archive(tmp_path):
    """Three real files, counts checked independently with awk (parts, sentences, tokens, `(`)."""
    archive = corpus_path("ontonotes", "conll-formatted-ontonotes-5.0-english.tar.xz")
    wanted = {
        f"conll-formatted-ontonotes-5.0/data/test/data/english/annotations/{name}.gold_conll"
        for name in ("bc/cctv/00/cctv_0005", "nw/wsj/23/wsj_2301", "pt/nt/40/nt_4009")
    }
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if member.name in wanted:
                tar.extract(member, tmp_path, filter="data")
                wanted.discard(member.name)
                if not wanted:
                    break
    tree = tmp_path / "conll-formatted-ontonotes-5.0"
    docs, summary = convert(tree)
    assert (summary.files_read, summary.documents, summary.sentences, summary.tokens) == (
        3,
        22,
        522,
        8700,
    )
    assert summary.groups["sentences per genre"] == {"bc": 430, "nw": 4, "pt": 88}
    assert dict(summary.entities) == {
        "CARDINAL": 36,
        "DATE": 25,
        "EVENT": 4,
        "FAC": 41,
        "GPE": 63,
        "LOC": 11,
        "NORP": 1,
        "ORDINAL": 15,
        "ORG": 17,
        "PERCENT": 1,
        "PERSON": 26,
        "QUANTITY": 36,
        "TIME": 12,
    }
    assert summary.dropped_overlap == summary.dropped_duplicate == summary.skipped == 0


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "x.gold_conll"
    good = conll_file("nw/x/00/x_0001", NW).encode()
    path.write_bytes(good.replace(b"Minister", b"Minist\xe8r"))
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.line, "not valid UTF-8" in err.value.message) == (4, True)
    docs, summary = convert(path, lenient=True)
    assert (summary.skipped, summary.sentences, summary.n_entities) == (1, 2, 3)


def test_token_lines_outside_a_part(tmp_path):
    path = write(
        tmp_path / "x.gold_conll", "x 0 0 stray NN * - - - - * -\n" + conll_file("nw/x", BC)
    )
    with pytest.raises(ConversionError) as err:
        convert(path)
    assert (err.value.line, err.value.message) == (
        1,
        "token line outside #begin document ... #end document",
    )
    docs, summary = convert(path, lenient=True)
    assert (summary.skipped, summary.sentences, summary.tokens) == (1, 1, 3)
