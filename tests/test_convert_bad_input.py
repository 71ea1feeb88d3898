"""Regressions: each bad input is a clean ``file:line`` error or a counted repair.

One test (or a few) per reported problem, through the API and, where the CLI differed, through
the command: exit status 1, one ``✘ file:line: ...`` line, no traceback and no output file.
"""

import io
import lzma
import tarfile

import click
import pytest
from convert_helpers import run_cli, write

from spacy_dtn.convert import (
    ConversionError,
    convert_conll2003,
    convert_i2b2_2009,
    convert_i2b2_2010,
    convert_iob,
    convert_ontonotes,
)

BOM = "\ufeff"


def convert(converter, path, **kwargs):
    docs, summary = converter(path, **kwargs)
    return list(docs), summary


def assert_clean_failure(result, path, line=None, output=None):
    """Exit 1 with one ``✘ path[:line]: ...`` line, no traceback, and no output written."""
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    text = click.unstyle(result.output)
    assert result.exit_code == 1, text
    assert text.startswith(f"✘ {where}"), text
    assert len(text.strip().splitlines()) == 1, text
    assert "Traceback" not in text and isinstance(result.exception, SystemExit)
    if output is not None:
        assert not output.exists()


# ------------------------------------------------------------ 1. invalid tag as an entity


@pytest.mark.parametrize(
    "converter,text",
    [
        (convert_iob, "Aspirin\tO-X\nworks\tO\n"),
        (convert_conll2003, "EU NNP I-NP O-X\nrejects VBZ I-VP O\n"),
    ],
)
def test_o_with_a_label_is_an_unknown_tag(tmp_path, converter, text):
    path = write(tmp_path / "ox.txt", text)
    with pytest.raises(ConversionError) as err:
        convert(converter, path)
    assert (err.value.path, err.value.line) == (str(path), 1)
    assert "unknown tag 'O-X'" in err.value.message
    docs, summary = convert(converter, path, lenient=True)
    assert (docs, summary.skipped, summary.n_entities) == ([], 1, 0)


def test_o_with_a_label_fails_in_the_cli(tmp_path):
    path = write(tmp_path / "ox.tsv", "Aspirin\tO-X\nworks\tO\n\n")
    result = run_cli("convert", "iob", path, tmp_path / "o.spacy")
    assert_clean_failure(result, path, 1, tmp_path / "o.spacy")


# ------------------------------------------------------------ 2. damaged archives


def small_archive(tmp_path):
    """A ``.tar.xz`` holding one valid test-split ``.gold_conll`` file."""
    name = "conll-formatted-ontonotes-5.0/data/test/data/english/annotations/bc/x/00/x_0001"
    cols = ["bc/x/00/x_0001", "0", "0", "Bob", "NNP", "*", "-", "-", "-", "-", "(PERSON)", "-"]
    text = "#begin document (bc/x/00/x_0001); part 000\n" + "   ".join(cols) + "\n\n"
    data = (text + "#end document\n").encode() * 200  # big enough to truncate mid-stream
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        info = tarfile.TarInfo(name + ".gold_conll")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def damaged_archives(good: bytes):
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    return {"empty": b"", "truncated": good[: len(good) // 2], "flipped byte": bytes(flipped)}


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped byte"])
def test_damaged_archive_is_one_conversion_error(tmp_path, damage):
    good = small_archive(tmp_path)
    assert lzma.decompress(good)  # the undamaged archive is readable
    path = tmp_path / "onto.tar.xz"
    path.write_bytes(damaged_archives(good)[damage])
    for lenient in (False, True):
        with pytest.raises(ConversionError) as err:
            convert(convert_ontonotes, path, split="test", lenient=lenient)
        assert (err.value.path, err.value.line) == (str(path), None)
        assert "damaged or truncated archive" in err.value.message
    output = tmp_path / "o.spacy"
    result = run_cli("convert", "ontonotes", path, output, "--split", "test", "--no-progress")
    assert_clean_failure(result, path, None, output)


# ------------------------------------------------------------ 3. absurd offsets


NOTE = "Patient has fever .\n"
HUGE = "9" * 4301  # past Python's int() digit limit


@pytest.mark.parametrize(
    "converter,suffix,line",
    [
        (convert_i2b2_2010, ".con", f'c="fever" 1:2 1:{HUGE}||t="problem"'),
        (convert_i2b2_2009, ".m", f'm="fever" 1:2 {HUGE}:2||do="nm"'),
    ],
)
def test_absurd_offset_is_a_conversion_error_and_lenient_skips_it(
    tmp_path, converter, suffix, line
):
    write(tmp_path / "n.txt", NOTE)
    ann = write(tmp_path / f"n{suffix}", line + "\n")
    with pytest.raises(ConversionError) as err:
        convert(converter, tmp_path)
    assert (err.value.path, err.value.line) == (str(ann), 1)
    assert "4,301 digits is out of range" in err.value.message
    docs, summary = convert(converter, tmp_path, lenient=True)
    assert (summary.skipped, summary.n_entities, summary.tokens) == (1, 0, 4)
    fmt = "i2b2-2010" if suffix == ".con" else "i2b2-2009"
    result = run_cli("convert", fmt, tmp_path, tmp_path / "o.spacy", "--no-progress")
    assert_clean_failure(result, ann, 1, tmp_path / "o.spacy")


def test_only_ascii_digits_are_offsets(tmp_path):
    """``\\d`` matches other scripts' digits, which ``int()`` reads: they are not offsets."""
    write(tmp_path / "n.txt", NOTE)
    write(tmp_path / "n.con", 'c="fever" \u0661:2 1:2||t="problem"\n')
    with pytest.raises(ConversionError, match="malformed concept line"):
        convert(convert_i2b2_2010, tmp_path)


# ------------------------------------------------------------ 4. byte-order marks


@pytest.mark.parametrize(
    "converter,text",
    [
        (convert_iob, BOM + "Aspirin\tB-Chemical\nworks\tO\n"),
        (convert_iob, BOM + "-DOCSTART-\tO\n\nAspirin\tB-Chemical\nworks\tO\n"),
        (convert_conll2003, BOM + "Aspirin NN I-NP B-Chemical\nworks VBZ I-VP O\n"),
    ],
)
def test_bom_is_removed_from_column_files_and_counted(tmp_path, converter, text):
    docs, summary = convert(converter, write(tmp_path / "x.txt", text))
    assert [t.text for t in docs[0]] == ["Aspirin", "works"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Aspirin", "Chemical")]
    assert summary.repaired == 1 and summary.details["repaired: byte-order mark removed"] == 1


def test_bom_is_removed_from_i2b2_notes_and_annotations(tmp_path):
    write(tmp_path / "n.txt", BOM + "Fever and cough .\n")
    write(tmp_path / "n.con", BOM + 'c="fever" 1:0 1:0||t="problem"\n')
    docs, summary = convert(convert_i2b2_2010, tmp_path)
    assert [t.text for t in docs[0]] == ["Fever", "and", "cough", "."]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Fever", "problem")]
    assert summary.details["repaired: byte-order mark removed"] == 2
    write(tmp_path / "m" / "n.txt", BOM + "Aspirin daily .\n")
    write(tmp_path / "m" / "n.m", BOM + 'm="aspirin" 1:0 1:0||f="daily" 1:1 1:1\n')
    docs, summary = convert(convert_i2b2_2009, tmp_path / "m")
    assert [(e.text, e.label_) for e in docs[0].ents] == [
        ("Aspirin", "medication"),
        ("daily", "frequency"),
    ]
    assert summary.details["repaired: byte-order mark removed"] == 2


def test_bom_is_removed_from_ontonotes_files(tmp_path):
    cols = ["bc/x", "0", "0", "Bob", "NNP", "*", "-", "-", "-", "-", "(PERSON)", "-"]
    text = "#begin document (bc/x); part 000\n" + "   ".join(cols) + "\n\n#end document\n"
    docs, summary = convert(convert_ontonotes, write(tmp_path / "x.gold_conll", BOM + text))
    assert [e.label_ for e in docs[0].ents] == ["PERSON"] and summary.repaired == 1


# ------------------------------------------------------------ 5. --summary at a folder


def test_summary_at_a_folder_writes_nothing(tmp_path):
    path = write(tmp_path / "x.tsv", "Aspirin\tB-Chemical\n")
    folder = tmp_path / "summary"
    folder.mkdir()
    output = tmp_path / "out" / "x.spacy"
    result = run_cli("convert", "iob", path, output, "--summary", folder)
    assert_clean_failure(result, folder, None, output)
    result = run_cli("convert", "iob", path, folder)  # the output itself a folder
    assert_clean_failure(result, folder, None)


# ------------------------------------------------------------ 7. uncounted splits, 0:... offsets


def test_docstart_inside_a_sentence_is_counted(tmp_path):
    text = "a\tO\nb\tB-X\n-DOCSTART-\tO\nc\tO\n"
    docs, summary = convert(convert_iob, write(tmp_path / "x.tsv", text))
    assert [[t.text for t in d] for d in docs] == [["a", "b"], ["c"]]
    assert summary.documents == 2
    assert summary.details["repaired: -DOCSTART- inside a sentence (sentence ended there)"] == 1
    # at a sentence boundary (after a blank line, or first in the file) it is no repair
    _, summary = convert(convert_iob, write(tmp_path / "y.tsv", "-DOCSTART-\tO\na\tO\n"))
    assert summary.repaired == 0


def test_line_zero_is_before_the_start_of_the_note(tmp_path):
    write(tmp_path / "n.txt", NOTE)
    write(tmp_path / "n.con", 'c="fever" 0:2 1:2||t="problem"\n')
    with pytest.raises(ConversionError, match=r"offset 0:2 is before the start of the note"):
        convert(convert_i2b2_2010, tmp_path)


# ------------------------------------------------------------ 8. iob with 3+ columns


@pytest.mark.parametrize("sep", ["\t", " "])
def test_iob_takes_the_last_of_several_columns_as_the_tag(tmp_path, sep):
    """spaCy's ``ner`` converter layout: token first, tag last, the rest not kept."""
    rows = [["Aspirin", "NN", "B-NP", "B-Chemical"], ["works", "VBZ", "B-VP", "O"]]
    text = "".join(sep.join(row) + "\n" for row in rows)
    docs, _ = convert(convert_iob, write(tmp_path / "x.tsv", text))
    assert [t.text for t in docs[0]] == ["Aspirin", "works"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Aspirin", "Chemical")]


# ------------------------------------------------------------ 9. --lenient that kept nothing


def test_lenient_with_everything_skipped_is_an_error(tmp_path):
    path = write(tmp_path / "x.tsv", "a\tO-X\n\nb\n")
    output = tmp_path / "x.spacy"
    result = run_cli("convert", "iob", path, output, "--lenient")
    assert_clean_failure(result, path, None, output)
    assert "all 2 item(s) were skipped" in result.output and f"{path}:1:" in result.output
    # an empty input skips nothing: 0 Docs is its correct conversion
    empty = write(tmp_path / "empty.tsv", "")
    assert run_cli("convert", "iob", empty, output, "--lenient").exit_code == 0
