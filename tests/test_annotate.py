"""``spacy_dtn.tools.annotate``: readers, bad records, long notes, resuming, both backends."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from spacy_dtn.tools import annotate as A
from spacy_dtn.tools.annotate import writers
from spacy_dtn.tools.annotate import (AnnotateError, BadRecord, JsonlWriter, Note, annotate,
                                doc_entities, plan_jsonl_ranges, read_jsonl, read_output,
                                split_text)
from spacy_dtn.extensions import GATES_EXTENSION

from dtn_helpers import corpus_path, read_iob

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(trained, tmp_path_factory):
    """The session's trained DTN pipeline on disk, as the command loads it."""
    nlp = trained[0]
    path = tmp_path_factory.mktemp("annotate") / "model"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def sentences():
    """The first 2,000 BC5CDR test sentences as texts (tokens joined by spaces)."""
    sents = read_iob(corpus_path("bc5cdr", "test.tsv"), 80_000)[:2000]
    assert len(sents) == 2000
    return [" ".join(words) for words, _ in sents]


def write_jsonl(path: Path, texts, prefix="n") -> Path:
    with path.open("w", encoding="utf8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}{i}", "text": text}) + "\n")
    return path


@pytest.fixture(scope="module")
def notes_2000(sentences, tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("notes") / "notes.jsonl", sentences)


@pytest.fixture(scope="module")
def reference(model_dir, notes_2000, tmp_path_factory):
    """An uninterrupted local run over the 2,000 notes: the output every other run must match."""
    out = tmp_path_factory.mktemp("reference") / "out.jsonl"
    summary = annotate(str(model_dir), notes_2000, out, chunk_size=100)
    assert (summary.read, summary.annotated, summary.bad) == (2000, 2000, 0)
    return out


def entity_tuples(records):
    return [(r["id"], e["start"], e["end"], e["label"], e["text"])
            for r in records for e in r["entities"]]


# ---------------------------------------------------------------- long notes


def test_split_text_cuts_at_the_best_boundary_by_hand():
    # A blank line in the window's second half wins over the later sentence end.
    text = "Aaaa bbb. Ccc\n\nDd. Eeeeee ff gg"
    assert split_text(text, 20) == [(0, "Aaaa bbb. Ccc\n\n"), (15, "Dd. Eeeeee ff gg")]
    # No line break: the last sentence end; no sentence end: the last whitespace.
    assert split_text("One two. Three four five", 16) == [(0, "One two. "), (9, "Three four five")]
    assert split_text("one two three four", 10) == [(0, "one two "), (8, "three four")]
    # No whitespace at all: a hard cut at max_chars; 0 never splits.
    assert split_text("abcdefghij", 4) == [(0, "abcd"), (4, "efgh"), (8, "ij")]
    assert split_text("abcdefghij", 0) == [(0, "abcdefghij")]


def test_split_text_pieces_concatenate_and_fit(sentences):
    text = "\n".join(sentences[:300])
    pieces = split_text(text, 2000)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 2000 for _, p in pieces)
    offsets = [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]
    assert [o for o, _ in pieces] == offsets
    assert all(p.endswith("\n") for _, p in pieces[:-1])  # cut at line ends: whole sentences


def test_long_note_offsets_point_into_the_note(model_dir, sentences, tmp_path):
    """A 50,000-token note comes back as one record whose entity offsets index its own text,
    and equal the entities of its pieces annotated one by one, shifted by the piece offsets."""
    import spacy

    text, n_tokens, i = [], 0, 0
    while n_tokens < 50_000:
        sentence = sentences[i % len(sentences)]
        text.append(sentence)
        n_tokens += len(sentence.split())
        i += 1
    text = "\n".join(text)
    inp = tmp_path / "long.jsonl"
    inp.write_text(json.dumps({"id": "long", "text": text}) + "\n", encoding="utf8")
    out = tmp_path / "out.jsonl"
    summary = annotate(str(model_dir), inp, out, max_chars=20_000, batch_size=8)
    [record] = read_output(out)
    pieces = split_text(text, 20_000)
    assert summary.split_notes == 1 and summary.pieces == len(pieces) > 10
    assert record["n_chars"] == len(text) and record["n_words"] >= 50_000
    assert record["entities"], "the model finds entities in BC5CDR text"
    for ent in record["entities"]:
        assert text[ent["start"]:ent["end"]] == ent["text"]
    # The first two pieces and the last one, annotated alone and shifted by hand (a sample of
    # the pieces, to keep the test short), hold exactly the note's entities in their ranges.
    nlp = spacy.load(model_dir)
    for offset, piece in pieces[:2] + pieces[-1:]:
        expected = [(offset + e.start_char, offset + e.end_char, e.label_)
                    for e in nlp(piece).ents]
        found = [(e["start"], e["end"], e["label"]) for e in record["entities"]
                 if offset <= e["start"] < offset + len(piece)]
        assert found == expected


def test_doc_entities_shift_offsets_and_read_a_spans_key(trained):
    nlp = trained[0]
    doc = Doc(nlp.vocab, words=["Aspirin", "caused", "renal", "failure", "."])
    doc.spans["dtn"] = [Span(doc, 0, 1, "Chemical"), Span(doc, 2, 4, "Disease")]
    doc._.set(GATES_EXTENSION, {"word_g1": [0.2, 0.4, 0.6, 0.8, 1.0]})
    assert doc_entities(doc, offset=100, spans_key="dtn") == [
        {"start": 100, "end": 107, "label": "Chemical", "text": "Aspirin",
         "gates": {"word_g1": 0.2}},
        {"start": 115, "end": 128, "label": "Disease", "text": "renal failure",
         "gates": {"word_g1": pytest.approx(0.7)}},
    ]
    assert doc_entities(doc) == []  # doc.ents is empty; the key is not read without the option


def test_gate_summary_is_the_mean_over_entity_tokens(model_dir, sentences, tmp_path):
    import spacy

    inp = write_jsonl(tmp_path / "in.jsonl", sentences[:40])
    out = tmp_path / "out.jsonl"
    annotate(str(model_dir), inp, out, gates=True)
    nlp = A.load_pipeline(str(model_dir), gates=True)
    records = read_output(out)
    n_checked = 0
    for record, doc in zip(records, nlp.pipe(sentences[:40])):
        gates = doc._.get(GATES_EXTENSION)
        assert len(record["entities"]) == len(doc.ents)
        assert set(gates) == {"char_g1", "char_g2", "word_g1", "word_g2", "decoder_g1",
                              "decoder_g2"}
        for ent, span in zip(record["entities"], doc.ents):
            for name, values in gates.items():
                mean = sum(values[span.start:span.end]) / len(span)
                assert ent["gates"][name] == pytest.approx(mean)
            n_checked += 1
    # a briefly trained model: how many entities it finds varies with the torch build and
    # threads, so the check asks for a few, not an exact count
    assert n_checked >= 5
    # Without --gates this model (store_gates off) writes no gate summary at all.
    annotate(str(model_dir), inp, tmp_path / "plain.jsonl")
    assert all("gates" not in e for r in read_output(tmp_path / "plain.jsonl")
               for e in r["entities"])
    assert spacy.load(model_dir).get_pipe("dtn_ner").store_gates is False


# ---------------------------------------------------------------- bad records


BAD_LINES = [
    b'{"id": "a", "text": "Aspirin caused nausea ."}',
    b'{"id": "b"}',
    b'{"text": "no id here"}',
    b'{"id": "c", "text": 42}',
    b'{"id": "d", "text": "caf\xe9"}',
    b'not json',
    b'["id", "text"]',
    b'{"id": "e", "text": "bad \\ud800"}',
    b'',
    b'{"id": 7, "text": "Cisplatin nephrotoxicity ."}',
    b'{"id": "a", "text": "again"}',
    b'{"id": "", "text": "x"}',
    b'{"id": true, "text": "x"}',
    b'{"id": "f", "text": ""}',
]


def expected_bad(path):
    return [
        (f"{path}:2", "no 'text'"),
        (f"{path}:3", "no 'id'"),
        (f"{path}:4", "'text' is not a string (int)"),
        (f"{path}:5", "invalid UTF-8 at byte 24"),
        (f"{path}:6", "not JSON (Expecting value at column 1)"),
        (f"{path}:7", "not a JSON object (list)"),
        (f"{path}:8", "'text' is not valid Unicode (lone surrogate at character 4)"),
        (f"{path}:12", "empty 'id'"),
        (f"{path}:13", "'id' is not a string or an integer"),
        # found when written, after line 13 was read
        (f"{path}:11", "duplicate id ('a' written already)"),
    ]


def test_reader_names_every_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    records = list(read_jsonl(path))
    assert [r.id for r in records if isinstance(r, Note)] == ["a", "7", "a", "f"]
    bad = [(r.where, r.reason) for r in records if isinstance(r, BadRecord)]
    assert bad == [b for b in expected_bad(path) if "duplicate" not in b[1]]


def test_json_errors_say_at_column_once():
    """json's messages that end in "at" ("Unterminated string starting at") are not followed
    by a second "at": the column is where the string starts (hand-counted)."""
    record = A.parse_jsonl_line(b'{"id": "g", "text": "no end', "f.jsonl:3", "id", "text")
    assert record == BadRecord("f.jsonl:3", "not JSON (Unterminated string starting at "
                                            "column 21)")
    record = A.parse_jsonl_line(b'{"id": "g\n"}', "f.jsonl:4", "id", "text")
    assert record == BadRecord("f.jsonl:4", "not JSON (Invalid control character at column 10)")


def test_a_negative_max_chars_is_refused_like_the_other_sizes(model_dir, tmp_path):
    from spacy_dtn.__main__ import app

    inp, out = write_jsonl(tmp_path / "in.jsonl", ["Aspirin ."]), tmp_path / "o.jsonl"
    for option, value, message in [
            ("--max-chars", "-5", "--max-chars must be 0 (never split) or more, got -5"),
            ("--batch-chars", "-5", "--batch-chars, --n-process and --chunk-size must be at "
                                    "least 1")]:
        result = runner.invoke(app, ["annotate", str(model_dir), str(inp), str(out), option,
                                     value])
        assert result.exit_code == 1, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_records_are_counted_and_named(model_dir, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    summary = annotate(str(model_dir), path, out, errors=errors)
    # 13 records (the blank line is none): 3 written, 10 bad, and the sum is exact.
    assert (summary.read, summary.annotated, summary.skipped, summary.bad) == (13, 3, 0, 10)
    assert [r["id"] for r in read_output(out)] == ["a", "7", "f"]
    assert read_output(out)[2] == {"id": "f", "n_chars": 0, "n_words": 0, "entities": []}
    named = [(b["where"], b["reason"]) for b in summary.bad_records]
    assert named == expected_bad(path)
    lines = errors.read_text().splitlines()
    assert [tuple(json.loads(line).values()) for line in lines] == named
    assert summary.bad_by_reason["duplicate id"] == 1 and summary.bad_by_reason["not JSON"] == 1


def test_strict_stops_at_the_first_bad_record(model_dir, tmp_path):
    from spacy_dtn.__main__ import app

    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    result = runner.invoke(app, ["annotate", str(model_dir), str(path),
                                 str(tmp_path / "out.jsonl"), "--strict"])
    assert result.exit_code == 1, result.output
    assert f"{path}:2: no 'text' (--strict)" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_parquet_and_txt_inputs_give_the_jsonl_entities(model_dir, sentences, tmp_path):
    """The same 50 notes as JSONL, as Parquet (plus a null text and an invalid UTF-8 cell)
    and as a folder of .txt files (plus one in Latin-1) give the same entities."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    texts = sentences[:50]
    jsonl = annotate(str(model_dir), write_jsonl(tmp_path / "in.jsonl", texts),
                     tmp_path / "a.jsonl")
    ids = [f"n{i}" for i in range(50)]
    table = pa.table({"note": ids + ["null", "latin"],
                      "body": [t.encode() for t in texts] + [None, "café".encode("latin-1")]})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=16)
    parquet = annotate(str(model_dir), tmp_path / "in.parquet", tmp_path / "b.jsonl",
                       id_field="note", text_field="body")
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    for note_id, text in zip(ids, texts):
        (folder / f"{note_id}.txt").write_text(text, encoding="utf8")
    (folder / "sub" / "latin.txt").write_bytes("café".encode("latin-1"))
    txt = annotate(str(model_dir), folder, tmp_path / "c.jsonl")
    by_id = lambda path: sorted(read_output(path), key=lambda r: r["id"])  # noqa: E731
    assert by_id(tmp_path / "a.jsonl") == by_id(tmp_path / "b.jsonl") == by_id(tmp_path / "c.jsonl")
    assert (jsonl.bad, parquet.bad, txt.bad) == (0, 2, 1)
    assert [(b["where"], b["reason"]) for b in parquet.bad_records] == [
        (f"{tmp_path / 'in.parquet'}:row 51", "no 'body'"),
        (f"{tmp_path / 'in.parquet'}:row 52", "invalid UTF-8 at byte 3"),
    ]
    assert txt.bad_records == [{"where": str(folder / "sub" / "latin.txt"),
                                "reason": "invalid UTF-8 at byte 3"}]


def test_jsonl_ranges_split_no_line_and_keep_line_numbers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    ranges = plan_jsonl_ranges(path, 60)
    assert len(ranges) > 3
    assert ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous
    whole = [(type(r).__name__, r.where) for r in read_jsonl(path)]
    pieces = [(type(r).__name__, r.where) for a, b, line in ranges
              for r in read_jsonl(path, start=a, stop=b, first_line=line)]
    assert pieces == whole


# ---------------------------------------------------------------- resuming


def test_a_killed_run_resumed_gives_the_same_output(model_dir, notes_2000, reference, tmp_path):
    """SIGKILL mid-run (plus a half-written last line), then a rerun: the output equals the
    uninterrupted run's, byte for byte, with no id twice."""
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "spacy_dtn", "annotate", str(model_dir), str(notes_2000),
           str(out), "--chunk-size", "50"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 300:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    n_done = out.read_bytes().count(b"\n")
    assert 300 <= n_done < 2000
    with out.open("ab") as f:
        f.write(b'{"id": "n9999", "n_chars": 12, "ent')  # a write cut off mid-line
    summary = annotate(str(model_dir), notes_2000, out, chunk_size=50)
    assert summary.skipped == n_done and summary.annotated == 2000 - n_done
    assert summary.truncated_bytes == len(b'{"id": "n9999", "n_chars": 12, "ent')
    assert out.read_bytes() == reference.read_bytes()
    ids = [r["id"] for r in read_output(out)]
    assert len(ids) == len(set(ids)) == 2000


def test_a_failed_write_is_cut_back_and_redone(model_dir, notes_2000, reference, tmp_path,
                                               monkeypatch):
    """The third chunk's write stops half way (a full disk): the half is cut back off, so the
    file holds whole chunks only, and a rerun completes it exactly."""
    out = tmp_path / "out.jsonl"
    real_write, calls = JsonlWriter.write, []

    class FullDisk:
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            os.write(fd, data[:len(data) // 2])
            raise OSError(28, "No space left on device")

    def write_then_fail(self, rows):
        calls.append(len(rows))
        if len(calls) == 3:
            monkeypatch.setattr(writers, "os", FullDisk())
        real_write(self, rows)

    monkeypatch.setattr(JsonlWriter, "write", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        annotate(str(model_dir), notes_2000, out, chunk_size=100)
    monkeypatch.undo()
    assert out.read_bytes().count(b"\n") == 200 and out.read_bytes().endswith(b"\n")
    summary = annotate(str(model_dir), notes_2000, out, chunk_size=100)
    assert (summary.skipped, summary.annotated, summary.truncated_bytes) == (200, 1800, 0)
    assert out.read_bytes() == reference.read_bytes()


def test_a_foreign_output_file_is_refused(model_dir, notes_2000, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "n0", "entities": []}\nsomething else\n', encoding="utf8")
    with pytest.raises(AnnotateError, match=r"out.jsonl:2: not a record annotate writes"):
        annotate(str(model_dir), notes_2000, out)


def test_parquet_output_resumes_by_parts(model_dir, sentences, notes_2000, reference, tmp_path):
    pytest.importorskip("pyarrow")
    first = write_jsonl(tmp_path / "first.jsonl", sentences[:700])
    out = tmp_path / "out.parquet"
    s1 = annotate(str(model_dir), first, out, chunk_size=300)
    assert sorted(p.name for p in out.iterdir()) == [
        "_model.json", "part-000000.parquet", "part-000001.parquet", "part-000002.parquet"]
    (out / ".part-000003.parquet.tmp").write_bytes(b"PAR1 half a part")  # an interrupted write
    s2 = annotate(str(model_dir), notes_2000, out, chunk_size=300)
    assert (s1.annotated, s2.skipped, s2.annotated) == (700, 700, 1300)
    assert not list(out.glob(".*.tmp"))
    assert read_output(out) == read_output(reference)


def test_docbin_parts_hold_each_note_once(model_dir, sentences, tmp_path):
    """--docbin: one Doc per note (a long note's pieces merged back), its note id, its
    entities; a part written before its entities were (an interruption) is cut to the notes
    the main output has, so no Doc is there twice after the rerun."""
    import spacy

    long = "\n".join(sentences[:40])
    texts = sentences[40:60] + [long]
    inp = write_jsonl(tmp_path / "in.jsonl", texts)
    out, bins = tmp_path / "out.jsonl", tmp_path / "docs"
    annotate(str(model_dir), inp, out, docbin=bins, chunk_size=8, max_chars=1000)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:12]) + "\n")  # entities of the last part's notes "lost"
    summary = annotate(str(model_dir), inp, out, docbin=bins, chunk_size=8, max_chars=1000)
    assert (summary.skipped, summary.annotated) == (12, 9)
    vocab = spacy.load(model_dir).vocab
    docs = [d for part in sorted(bins.glob("part-*.spacy"))
            for d in DocBin().from_disk(part).get_docs(vocab)]
    records = {r["id"]: r for r in read_output(out)}
    assert sorted(d.user_data["note_id"] for d in docs) == sorted(records) == sorted(
        f"n{i}" for i in range(21))
    for doc in docs:
        record = records[doc.user_data["note_id"]]
        assert doc.text == texts[int(record["id"][1:])]
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [
            (e["start"], e["end"], e["label"]) for e in record["entities"]]


# ---------------------------------------------------------------- provenance


@pytest.fixture(scope="module")
def other_model_dir(model_dir, tmp_path_factory):
    """model_dir with one weight of its network moved by 0.001: another model, same meta."""
    import spacy
    import torch

    nlp = spacy.load(model_dir)
    with torch.no_grad():
        next(nlp.get_pipe("dtn_ner").network.parameters()).view(-1)[0] += 0.001
    path = tmp_path_factory.mktemp("other") / "model"
    nlp.to_disk(path)
    return path


def test_the_weights_fingerprint_is_the_weights(model_dir, other_model_dir):
    """Two loads of a model agree; a packaging (meta name, version) changes nothing; one weight
    moved by 0.001 changes it."""
    import spacy
    from spacy_dtn.tools.loading import weights_fingerprint

    first, second = spacy.load(model_dir), spacy.load(model_dir)
    assert weights_fingerprint(first) == weights_fingerprint(second)
    second.meta.update(name="dtn_clinical", version="0.1.0")
    assert weights_fingerprint(first) == weights_fingerprint(second)
    assert weights_fingerprint(spacy.load(other_model_dir)) != weights_fingerprint(first)


def test_the_output_and_summary_name_the_model(model_dir, sentences, tmp_path):
    import spacy
    from spacy_dtn.tools.loading import weights_fingerprint

    inp = write_jsonl(tmp_path / "in.jsonl", sentences[:10])
    summary = annotate(str(model_dir), inp, tmp_path / "o.jsonl")
    expected = {"model": str(model_dir), "name": "en_pipeline", "version": "0.0.0",
                "weights_sha256": weights_fingerprint(spacy.load(model_dir))}
    assert json.loads((tmp_path / "o.jsonl.model.json").read_text()) == expected
    assert summary.model == summary.as_dict()["model"] == expected
    annotate(str(model_dir), inp, tmp_path / "o.parquet")
    assert json.loads((tmp_path / "o.parquet" / "_model.json").read_text()) == expected


def test_a_rerun_with_another_model_is_refused_unless_overwrite(model_dir, other_model_dir,
                                                                sentences, tmp_path):
    from spacy_dtn.__main__ import app

    inp, out = write_jsonl(tmp_path / "in.jsonl", sentences[:20]), tmp_path / "o.jsonl"
    annotate(str(model_dir), write_jsonl(tmp_path / "first.jsonl", sentences[:5]), out)
    before = out.read_bytes()
    result = runner.invoke(app, ["annotate", str(other_model_dir), str(inp), str(out)])
    assert result.exit_code == 1
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.output).strip().splitlines()  # no colour
    assert len(lines) == 1 and lines[0].startswith("\u2718 ")
    assert (f"{out} holds the entities of {model_dir} (en_pipeline 0.0.0, weights "
            in lines[0])
    assert f"not of {other_model_dir} (en_pipeline 0.0.0, weights " in lines[0]
    assert lines[0].endswith("pass --overwrite to discard it and start over, or give another "
                             "output")
    assert out.read_bytes() == before
    # the same weights resume (from another path: what counts is the weights)
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    summary = annotate(str(copy), inp, out)
    assert (summary.skipped, summary.annotated) == (5, 15)
    # --overwrite: the earlier output is discarded, every note annotated by the other model
    result = runner.invoke(app, ["annotate", str(other_model_dir), str(inp), str(out),
                                 "--overwrite"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_output(out)] == [f"n{i}" for i in range(20)]
    saved = json.loads((tmp_path / "o.jsonl.model.json").read_text())
    assert saved["model"] == str(other_model_dir)


def test_records_without_a_provenance_are_refused(model_dir, notes_2000, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "n0", "n_chars": 1, "n_words": 1, "entities": []}\n',
                   encoding="utf8")
    with pytest.raises(AnnotateError, match=r"out.jsonl holds 1 records but no "
                                            r"out.jsonl.model.json naming their model"):
        annotate(str(model_dir), notes_2000, out)


# ---------------------------------------------------------------- the command and Ray


def test_command_writes_output_and_summary(model_dir, sentences, tmp_path):
    from spacy_dtn.__main__ import app

    inp = write_jsonl(tmp_path / "in.jsonl", sentences[:30])
    result = runner.invoke(app, ["annotate", str(model_dir), str(inp), str(tmp_path / "o.jsonl"),
                                 "--summary", str(tmp_path / "s.json"), "-b", "8"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["read"] == summary["annotated"] == 30
    assert summary["entities"] == sum(len(r["entities"]) for r in read_output(tmp_path / "o.jsonl"))
    assert "30 notes annotated" in " ".join(result.output.split())


def test_ray_backend_without_ray_says_how_to_install(model_dir, notes_2000, tmp_path,
                                                     monkeypatch):
    from spacy_dtn.__main__ import app

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    result = runner.invoke(app, ["annotate", str(model_dir), str(notes_2000),
                                 str(tmp_path / "o.jsonl"), "--backend", "ray"])
    assert result.exit_code == 1
    assert "pip install 'spacy_dtn[ray]'" in " ".join(result.output.split())
    assert not (tmp_path / "o.jsonl").exists()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'spacy_dtn[ray]')")
    # "local": a new instance even if RAY_ADDRESS or a `ray start` cluster is around
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_ray_and_local_give_identical_output(local_ray, model_dir, notes_2000, reference,
                                             tmp_path):
    """2,000 BC5CDR sentences plus 2 bad records: the Ray backend (2 actors) and the local one
    (1 and 2 processes) write the same bytes and name the same bad records."""
    inp = tmp_path / "in.jsonl"
    lines = notes_2000.read_bytes().splitlines(keepends=True)
    inp.write_bytes(b"".join(lines[:1000]) + b'{"id": "x"}\n' + b"".join(lines[1000:])
                    + b"{oops\n")
    runs = {}
    for name, kwargs in {"local-2": {"n_process": 2},
                         "ray-2": {"backend": "ray", "n_process": 2}}.items():
        out = tmp_path / f"{name}.jsonl"
        runs[name] = (annotate(str(model_dir), inp, out, chunk_size=100, **kwargs),
                      out.read_bytes())
    # The reference is the local backend with 1 process, on the same notes without the bad
    # records: bad records are never written.
    assert runs["local-2"][1] == runs["ray-2"][1] == reference.read_bytes()
    for summary, _ in runs.values():
        assert (summary.read, summary.annotated, summary.bad) == (2002, 2000, 2)
        assert summary.bad_records == [
            {"where": f"{inp}:1001", "reason": "no 'text'"},
            {"where": f"{inp}:2002", "reason": "not JSON (Expecting property name enclosed "
                                               "in double quotes at column 2)"},
        ]
    assert len(entity_tuples(read_output(tmp_path / "ray-2.jsonl"))) > 2000


def test_ray_backend_resumes_into_parquet(local_ray, model_dir, sentences, notes_2000,
                                          reference, tmp_path):
    out = tmp_path / "out.parquet"
    annotate(str(model_dir), write_jsonl(tmp_path / "first.jsonl", sentences[:1500]), out,
             chunk_size=500)
    summary = annotate(str(model_dir), notes_2000, out, backend="ray", n_process=2,
                       chunk_size=500)
    assert (summary.skipped, summary.annotated, summary.bad) == (1500, 500, 0)
    assert read_output(out) == read_output(reference)


def test_char_batches_bound_items_and_characters():
    items = [("a" * n, i) for i, n in enumerate([3, 3, 3, 9, 1, 1, 1, 1, 12, 2])]
    batches = [[i for _, i in b] for b in A.char_batches(items, batch_size=3, batch_chars=8)]
    # 3+3 fits 8, +3 would not; 9 is alone (longer than the budget by itself); then 3 items.
    assert batches == [[0, 1], [2], [3], [4, 5, 6], [7], [8], [9]]


def test_a_foreign_parquet_part_is_refused(model_dir, notes_2000, tmp_path):
    out = tmp_path / "out.parquet"
    out.mkdir()
    (out / "part-000005.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(AnnotateError, match=r"part-000005.parquet: not a part annotate writes"):
        annotate(str(model_dir), notes_2000, out)
