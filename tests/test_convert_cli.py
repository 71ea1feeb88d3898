"""``convert`` and ``subsample`` on the command line: outputs, summaries, clean failures."""

import json
import os
import stat
import subprocess
import sys

import pytest
from convert_helpers import run_cli, write
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_dtn.subsample import subsample

IOB = "a\tB-X\nb\tI-X\n\nc\tO\n\nd\tB-Y\n\ne\tO\nf\tO\n"
NOTE = "Patient has chest pain .\nNo fever .\n"


def read(path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


def test_convert_writes_docbin_and_summary(tmp_path):
    src = write(tmp_path / "in.tsv", IOB)
    out, summary = tmp_path / "out" / "train.spacy", tmp_path / "summary.json"
    result = run_cli("convert", "iob", src, out, "--summary", summary)
    assert result.exit_code == 0, result.output
    docs = read(out)
    assert [d.text for d in docs] == ["a b", "c", "d", "e f"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("a b", "X")]
    assert docs[0][1].ent_iob_ == "I" and docs[1][0].ent_iob_ == "O"  # O, not missing
    assert docs[3][1].is_sent_start is False
    data = json.loads(summary.read_text())
    assert (data["sentences"], data["tokens"], data["entities"], data["scheme"]) == (
        4,
        6,
        {"X": 1, "Y": 1},
        "IOB2",
    )
    assert "Docs written" in result.output and "Wrote 4 Docs" in result.output


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_docbin_gets_the_mode_of_any_new_file(tmp_path, umask, mode):
    """Written through a temporary file (mkstemp: 0o600), renamed with open()'s mode."""
    src = write(tmp_path / "in.tsv", IOB)
    before = os.umask(umask)
    try:
        assert run_cli("convert", "iob", src, tmp_path / "train.spacy").exit_code == 0
        assert run_cli("subsample", tmp_path / "train.spacy", tmp_path / "half.spacy",
                       "--fraction", "0.5").exit_code == 0
    finally:
        os.umask(before)
    for name in ("train.spacy", "half.spacy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_missing_annotation_survives_the_docbin(tmp_path):
    text = (
        "#begin document (pt/nt/40/nt_1); part 000\n"
        "pt/nt/40/nt_1 0 0 Amen UH * - - - - * -\n"
        "\n"
        "#end document\n"
    )
    src = write(tmp_path / "nt_1.gold_conll", text)
    result = run_cli("convert", "ontonotes", src, tmp_path / "pt.spacy", "--no-progress")
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "pt.spacy")[0][0].ent_iob_ == ""


@pytest.mark.parametrize(
    "args,expected",
    [
        (["iob", "{bad}"], "bad.tsv:2: tag 'I-Y' continues nothing"),
        (["iob", "{missing}"], "missing.tsv: no such file"),
        (
            ["conll2003", "{bad}"],
            "bad.tsv:1: malformed line: expected 4 space-separated columns, found 2",
        ),
        (["iob", "{bad}", "--scheme", "XYZ"], "unknown tag scheme 'XYZ'"),
        (
            ["iob", "{bad}", "--split", "train"],
            "--split, --genre and --drop-pt apply to ontonotes only",
        ),
        (
            ["i2b2-2010", "{tmp}"],
            "a.con:1: concept text does not match the note tokens at its offsets",
        ),
        (["ontonotes", "{tmp}"], "no .gold_conll files found"),
    ],
)
def test_bad_input_fails_cleanly(tmp_path, args, expected):
    write(tmp_path / "bad.tsv", "a\tB-X\nb\tI-Y\n")
    write(tmp_path / "a.txt", NOTE)
    write(tmp_path / "a.con", 'c="cough" 1:3 1:3||t="problem"\n')
    fill = {"bad": tmp_path / "bad.tsv", "missing": tmp_path / "missing.tsv", "tmp": tmp_path}
    out = tmp_path / "out.spacy"
    result = run_cli("convert", *[a.format(**fill) for a in args[:2]], out, *args[2:])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # no other exception escaped
    assert expected in result.output
    assert "Traceback" not in result.output
    assert "pain" not in result.output  # note text is not printed
    assert not out.exists()  # nothing half-written


def test_show_text_and_lenient(tmp_path):
    write(tmp_path / "a.txt", NOTE)
    write(tmp_path / "a.con", 'c="cough" 1:3 1:3||t="problem"\nc="fever" 2:1 2:1||t="problem"\n')
    result = run_cli("convert", "i2b2-2010", tmp_path, tmp_path / "o.spacy", "--show-text")
    assert result.exit_code == 1 and "'cough' vs 'pain'" in result.output
    result = run_cli(
        "convert",
        "i2b2-2010",
        tmp_path,
        tmp_path / "o.spacy",
        "--lenient",
        "--summary",
        tmp_path / "s.json",
    )
    assert result.exit_code == 0, result.output
    assert (
        "1 item(s) skipped" in result.output
        and "a.con:1: concept text does not match" in result.output
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["skipped"], summary["entities"], summary["docs"]) == (1, {"problem": 1}, 2)
    assert [e.text for d in read(tmp_path / "o.spacy") for e in d.ents] == ["fever"]


def test_subsample_keeps_the_seeded_selection(tmp_path):
    text = "\n".join(f"w{i}\tO" for i in range(40)).replace("\n", "\n\n")  # 40 one-token sentences
    src = write(tmp_path / "in.tsv", text + "\n")
    assert run_cli("convert", "iob", src, tmp_path / "all.spacy").exit_code == 0
    result = run_cli(
        "subsample",
        tmp_path / "all.spacy",
        tmp_path / "some.spacy",
        "--fraction",
        "0.25",
        "--seed",
        "7",
    )
    assert result.exit_code == 0, result.output
    assert "Kept 10 of 40 Docs" in result.output
    kept = [d.text for d in read(tmp_path / "some.spacy")]
    assert kept == subsample([f"w{i}" for i in range(40)], 0.25, 7)
    result = run_cli(
        "subsample",
        tmp_path / "all.spacy",
        tmp_path / "x.spacy",
        "--fraction",
        "0.25",
        "--seed",
        "8",
    )
    assert [d.text for d in read(tmp_path / "x.spacy")] != kept


@pytest.mark.parametrize(
    "fraction,expected", [("1.5", "fraction must lie in [0, 1]"), ("0.5", "not a readable DocBin")]
)
def test_subsample_fails_cleanly(tmp_path, fraction, expected):
    src = write(tmp_path / "in.spacy", "not a docbin")
    if fraction == "1.5":
        assert run_cli("convert", "iob", write(tmp_path / "x.tsv", IOB), src).exit_code == 0
    result = run_cli("subsample", src, tmp_path / "o.spacy", "--fraction", fraction)
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output


def test_in_a_subprocess(tmp_path):
    """A real process, ``python -m spacy_dtn``: a clean failure (no traceback) and a lenient
    conversion."""
    prefix = ["-m", "spacy_dtn"]
    bad = write(tmp_path / "bad.tsv", "a\tO\nb\tI-X\n\nc\tB-X\n")
    run = lambda *a: subprocess.run(
        [sys.executable, *prefix, *map(str, a)], capture_output=True, text=True
    )
    result = run("convert", "iob", bad, tmp_path / "o.spacy")
    assert result.returncode == 1
    assert f"{bad}:2: tag 'I-X' continues nothing" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    result = run("convert", "iob", bad, tmp_path / "o.spacy", "--lenient")
    assert result.returncode == 0 and len(read(tmp_path / "o.spacy")) == 1
