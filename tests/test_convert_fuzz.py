"""Property-based fuzzing of every converter: a bad input is a clean error or a counted repair.

Each test draws a valid input from a small real slice of ``../shared/data`` (i2b2 notes are
built from real BC5CDR sentences, as no i2b2 data is shared), applies mutations whose effect is
known (bad tags, missing or extra columns, invalid UTF-8, NUL, long words, BOM, CRLF, offsets
past or before a line, unbalanced brackets, truncation, damaged archives), converts it strictly
and leniently, and checks against an oracle computed from the mutated *model*, not from the
converter's code:

* strict: a :class:`ConversionError` naming the file and the first damaged line, or, when
  nothing was damaged, exactly the expected Docs;
* lenient: exactly the expected Docs (tokens and entities) minus the damaged items, with
  ``skipped`` and ``repaired`` equal to what was damaged and repaired;
* never an entity labelled ``FUZZ`` (the label of every invalid tag the fuzzer writes).

Examples per test: ``SPACY_DTN_FUZZ_EXAMPLES`` (default 300); ``SPACY_DTN_FUZZ_RANDOM=1``
draws new random inputs instead of the fixed, derandomised ones. The long run recorded in
docs/converters.md used 10,000 per test.
"""

import functools
import io
import itertools
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from dtn_helpers import corpus_path

from spacy_dtn.convert import (
    ConversionError,
    convert_conll2003,
    convert_i2b2_2009,
    convert_i2b2_2010,
    convert_iob,
    convert_ontonotes,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("SPACY_DTN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SPACY_DTN_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
BOM = b"\xef\xbb\xbf"
#: Tags invalid in every scheme; their label never reaches an entity.
BAD_TAGS = ("O-FUZZ", "b-FUZZ", "B-", "FUZZ", "Q-FUZZ", "B-FUZZ\x00", "-")

Entity = Tuple[int, int, str]


@dataclass
class Expected:
    """What a mutated input must convert to: Docs as (words, entities), and the counts."""

    docs: List[Tuple[List[str], List[Entity]]] = field(default_factory=list)
    first_error: Optional[Tuple[str, Optional[int]]] = None  # (path, line) strict mode raises
    skipped: int = 0
    repaired: int = 0

    def damage(self, path: str, line: Optional[int]) -> None:
        self.skipped += 1
        if self.first_error is None:
            self.first_error = (path, line)


def outcome(converter, path, **kwargs):
    """``("error", err)`` or ``("docs", [(words, entities)], summary)``; anything else fails."""
    docs, summary = converter(path, **kwargs)
    try:
        got = [([t.text for t in d], [(e.start, e.end, e.label_) for e in d.ents]) for d in docs]
    except ConversionError as err:
        return "error", err, None
    assert summary.docs == len(got) and summary.tokens == sum(len(w) for w, _ in got)
    assert not any(label == "FUZZ" for _, ents in got for *_, label in ents)
    return "docs", got, summary


def check(converter, path, expected: Expected, **kwargs) -> None:
    """The oracle, strict then lenient (see the module docstring)."""
    kind, got, summary = outcome(converter, path, **kwargs)
    if expected.first_error is not None:
        assert kind == "error", f"expected an error at {expected.first_error}"
        assert (got.path, got.line) == expected.first_error, str(got)
    else:
        assert kind == "docs", str(got)
        assert got == expected.docs
        assert (summary.repaired, summary.skipped) == (expected.repaired, 0)
    kind, got, summary = outcome(converter, path, lenient=True, **kwargs)
    assert kind == "docs", str(got)
    assert got == expected.docs
    assert (summary.skipped, summary.repaired) == (expected.skipped, expected.repaired)


def iob_entities(tags: List[str]) -> List[Entity]:
    """Entities of valid IOB1/IOB2 tags: B-X starts one, I-X continues one of label X."""
    ents: List[Entity] = []
    label, start = None, 0
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, lab = tag.partition("-")
        if label is not None and (prefix != "I" or lab != label):
            ents.append((start, i, label))
            label = None
        if prefix == "B" or (prefix == "I" and label is None):
            start, label = i, lab
    return ents


# ------------------------------------------------------------------ real slices


def read_columns(path: Path, n_lines: int) -> List[List[List[str]]]:
    """Sentences (rows of columns) in the first ``n_lines`` lines, ``-DOCSTART-`` left out."""
    sents, rows = [], []
    with path.open(encoding="utf8") as f:
        for line in itertools.islice(f, n_lines):
            fields = line.rstrip("\n").split("\t" if "\t" in line else None)
            if not line.strip() or fields[0] == "-DOCSTART-":
                if rows:
                    sents.append(rows)
                rows = []
                continue
            rows.append(fields)
    return sents


@functools.lru_cache(maxsize=None)
def column_slice(corpus: str) -> List[List[List[str]]]:
    name = {"bc5cdr": ("bc5cdr", "train.tsv"), "conll2003": ("conll2003", "eng.train")}[corpus]
    return read_columns(corpus_path(*name), 3000)


@functools.lru_cache(maxsize=None)
def ontonotes_slice() -> List[List[List[str]]]:
    """The sentences of the first part of the first ``.gold_conll`` file in the archive."""
    archive = corpus_path("ontonotes", "conll-formatted-ontonotes-5.0-english.tar.xz")
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".gold_conll"):
                text = tar.extractfile(member).read().decode("utf8")
                break
    sents, rows = [], []
    for line in text.split("#end document")[0].splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if rows:
                sents.append(rows)
            rows = []
            continue
        rows.append(line.split())
    return sents[:60]


def pick(data, sents, max_sents: int = 6):
    """A few real sentences (copies of their rows), chosen by hypothesis."""
    idx = data.draw(st.lists(st.integers(0, len(sents) - 1), min_size=1, max_size=max_sents))
    return [[list(r) for r in sents[i]] for i in idx]


# ------------------------------------------------------------------ column formats


@dataclass
class Row:
    """One token line being fuzzed: its columns, and how it was damaged (``""``: valid)."""

    fields: List[str]
    damage: str = ""  # "line" (malformed or not UTF-8) or "tag" (invalid tag)
    raw: Optional[bytes] = None  # the line's bytes when they are not valid UTF-8


ROW_MUTATIONS = ("bad_tag", "missing_column", "extra_column", "empty_column", "invalid_utf8",
                 "nul", "long", "docstart_inside")


def mutate_row(data, row: Row, tag_col: int, is_iob: bool) -> None:
    """Apply one drawn mutation to ``row`` and record whether it damages the line."""
    what = data.draw(st.sampled_from(ROW_MUTATIONS[:-1]))
    if what == "bad_tag":
        row.fields[tag_col] = data.draw(st.sampled_from(BAD_TAGS))
        row.damage = row.damage or "tag"
    elif what == "missing_column":
        del row.fields[tag_col]
        row.damage = "line"
    elif what == "extra_column":
        row.fields.insert(1, "XX")
        if not is_iob:  # iob reads the last of 3+ columns as the tag: still valid
            row.damage = "line"
    elif what == "empty_column" and is_iob:
        row.fields.insert(1, "")
        row.damage = "line"
    elif what == "invalid_utf8":
        row.raw = row.fields[0].encode() + b"\xff"
        row.damage = "line"
    elif what == "nul":
        row.fields[0] += "\x00"
    elif what == "long":
        row.fields[0] = row.fields[0] * (10_000 // len(row.fields[0]) + 1)


def render_columns(sentences, is_iob: bool, crlf: bool, bom: bool):
    """Bytes of the file, and per sentence the line number of each row; a sentence marked
    ``docstart`` follows the one before after a ``-DOCSTART-`` line with no blank line."""
    sep = "\t" if is_iob else " "
    eol = b"\r\n" if crlf else b"\n"
    out, lines, number = [], [], 0
    for k, (rows, docstart) in enumerate(sentences):
        if k:
            out.append(("-DOCSTART-" + sep + "O") if docstart else "")
            number += 1
        numbers = []
        for row in rows:
            number += 1
            numbers.append(number)
            out.append(row.raw if row.raw is not None else sep.join(row.fields))
        lines.append(numbers)
    data = eol.join(x if isinstance(x, bytes) else x.encode() for x in out) + eol
    return (BOM if bom else b"") + data, lines


def first_bad_tag(tags: List[str], scheme: str) -> Optional[int]:
    """The index of the first tag that is not valid IOB1/IOB2 (the spec, written out again):
    ``O``, or ``B-``/``I-`` and a printable label; in IOB2 an ``I-X`` must follow ``X``."""
    prev = "O"
    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        bad_label = not label or not label.isprintable() or " " in label
        if tag != "O" and (prefix not in ("B", "I") or bad_label):
            return i
        if scheme == "IOB2" and prefix == "I" and prev.partition("-")[2] != label:
            return i
        prev = tag
    return None


def column_expected(path: str, sentences, lines, scheme: str, bom: bool) -> Expected:
    exp = Expected(repaired=int(bom) + sum(1 for _, docstart in sentences if docstart))
    for (rows, _), numbers in zip(sentences, lines):
        bad_lines = [n for r, n in zip(rows, numbers) if r.damage == "line"]
        # a -DOCSTART- inside an entity leaves an I- tag that continues nothing (IOB2)
        bad_tag = None if bad_lines else first_bad_tag([r.fields[-1] for r in rows], scheme)
        if bad_lines or bad_tag is not None:
            exp.damage(path, bad_lines[0] if bad_lines else numbers[bad_tag])
            continue
        words = [r.fields[0] for r in rows]
        exp.docs.append((words, iob_entities([r.fields[-1] for r in rows])))
    return exp


def fuzz_columns(data, converter, corpus: str, scheme: str, is_iob: bool) -> None:
    tag_col = -1
    picked = pick(data, column_slice(corpus))
    clean, _ = render_columns([([Row(f) for f in rows], False) for rows in picked], is_iob,
                              False, False)
    sentences = []
    for rows in picked:
        rows = [Row(fields) for fields in rows]
        # one mutation per row: two on one row could turn a malformed line back into a bad tag
        for i in data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=2, unique=True)):
            mutate_row(data, rows[i], tag_col, is_iob)
        cut = data.draw(st.integers(0, len(rows) - 1)) if data.draw(st.booleans()) else 0
        if cut and data.draw(st.integers(0, 3)) == 0:  # -DOCSTART- inside the sentence
            sentences += [(rows[:cut], False), (rows[cut:], True)]
        else:
            sentences.append((rows, False))
    bom, crlf = data.draw(st.booleans()), data.draw(st.booleans())
    raw, lines = render_columns(sentences, is_iob, crlf, bom)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.txt"
        path.write_bytes(raw)
        exp = column_expected(str(path), sentences, lines, scheme, bom)
        check(converter, path, exp, scheme=scheme)
        truncate_and_check(data, converter, path, clean, scheme=scheme)


def truncate_and_check(data, converter, path: Path, raw: bytes, **kwargs) -> None:
    """Cut a valid file anywhere: a clean error naming the file and a line in it, or Docs that
    are the full file's Docs up to the cut (the one holding the cut may be shorter)."""
    path.write_bytes(raw)
    full = outcome(converter, path, lenient=True, **kwargs)[1]
    cut = data.draw(st.integers(0, len(raw)))
    path.write_bytes(raw[:cut])
    n_lines = raw[:cut].count(b"\n") + 1
    for lenient in (False, True):
        kind, got, _ = outcome(converter, path, lenient=lenient, **kwargs)
        if kind == "error":
            assert not lenient and got.path == str(path) and 1 <= got.line <= n_lines, str(got)
            continue
        assert got[:-1] == full[: len(got) - 1] if got else True
        if got:  # the last Doc: the full one, or its beginning (its last word maybe cut)
            words, _ = got[-1]
            ref = full[len(got) - 1][0]
            assert words[:-1] == ref[: len(words) - 1] and ref[len(words) - 1].startswith(words[-1])


@FUZZ
@given(st.data())
def test_fuzz_iob(data):
    fuzz_columns(data, convert_iob, "bc5cdr", "IOB2", is_iob=True)


@FUZZ
@given(st.data())
def test_fuzz_conll2003(data):
    fuzz_columns(data, convert_conll2003, "conll2003", "IOB1", is_iob=False)


# ------------------------------------------------------------------ OntoNotes


def onto_entities(ne: List[str]) -> List[Entity]:
    """Entities of a valid bracket column (nested ones are never in the real data)."""
    ents, open_ = [], None
    for i, column in enumerate(ne):
        if column.startswith("("):
            open_ = (i, column[1:].rstrip("*)"))
        if column.endswith(")") and open_ is not None:
            ents.append((open_[0], i + 1, open_[1]))
            open_ = None
    return ents


def fuzz_ontonotes_rows(data, rows: List[Row]) -> None:
    """A mutation of a sentence's rows: columns, bytes, or an unbalanced bracket."""
    i = data.draw(st.integers(0, len(rows) - 1))
    row = rows[i]
    # brackets are added only outside entities: inside one they would nest, and the error
    # would be reported at the enclosing entity's line
    inside = any(s <= i < e for s, e, _ in onto_entities([r.fields[10] for r in rows]))
    what = data.draw(st.sampled_from(["missing_column", "invalid_utf8", "nul", "long",
                                      "never_closed", "never_opened", "bad_field", "none"]))
    if what == "missing_column":
        del row.fields[data.draw(st.integers(1, len(row.fields) - 1)):]
        row.damage = "line" if len(row.fields) < 11 else row.damage
    elif what == "invalid_utf8":
        row.raw = "   ".join(row.fields).encode().replace(b" ", b" \xfe", 1)
        row.damage = "line"
    elif what == "nul":
        row.fields[3] += "\x00"
    elif what == "long":
        row.fields[3] = row.fields[3] * (10_000 // len(row.fields[3]) + 1)
    elif what == "never_closed" and not inside:
        row.fields[10] = "(FUZZ*"
        row.damage = row.damage or "tag"
    elif what == "never_opened" and not inside:
        row.fields[10] = "*)"
        row.damage = row.damage or "tag"
    elif what == "bad_field":
        row.fields[10] = data.draw(st.sampled_from(["(FUZZ", "FUZZ", "((", "(*)", "**"]))
        row.damage = row.damage or "tag"


def render_ontonotes(sentences, crlf: bool, bom: bool, drop_end: bool):
    eol = b"\r\n" if crlf else b"\n"
    out = ["#begin document (bc/fuzz/00/fuzz_0001); part 000"]
    lines = []
    for rows in sentences:
        numbers = []
        for row in rows:
            out.append(row.raw if row.raw is not None else "   ".join(row.fields))
            numbers.append(len(out))
        out.append("")
        lines.append(numbers)
    if not drop_end:
        out.append("#end document")
    data = eol.join(x if isinstance(x, bytes) else x.encode() for x in out) + eol
    return (BOM if bom else b"") + data, lines


@FUZZ
@given(st.data())
def test_fuzz_ontonotes(data):
    picked = pick(data, ontonotes_slice())
    clean, _ = render_ontonotes([[Row(f) for f in rows] for rows in picked], False, False, False)
    sentences = [[Row(f) for f in rows] for rows in picked]
    for rows in sentences:
        if data.draw(st.integers(0, 2)) == 0:
            fuzz_ontonotes_rows(data, rows)
    bom, crlf, drop_end = (data.draw(st.booleans()) for _ in range(3))
    raw, lines = render_ontonotes(sentences, crlf, bom, drop_end)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.gold_conll"
        path.write_bytes(raw)
        exp = Expected(repaired=int(bom))
        for rows, numbers in zip(sentences, lines):
            bad = [n for r, n in zip(rows, numbers) if r.damage == "line"]
            bad = bad or [n for r, n in zip(rows, numbers) if r.damage == "tag"]
            if bad:
                # an unclosed bracket is reported at its opening line, an unbalanced one where
                # it closes: either is the first bracket defect of the sentence
                exp.damage(str(path), bad[0])
            else:
                ne = [r.fields[10] for r in rows]
                exp.docs.append(([r.fields[3] for r in rows], onto_entities(ne)))
        if drop_end:
            exp.damage(str(path), 1)  # "#begin document without #end document"
        check(convert_ontonotes, path, exp)
        truncate_and_check(data, convert_ontonotes, path, clean)


@FUZZ
@given(st.data())
def test_fuzz_ontonotes_archive(data):
    """A damaged archive is one error naming it (no line), or converts as if undamaged."""
    sentences = [[Row(f) for f in rows] for rows in pick(data, ontonotes_slice(), 3)]
    text, _ = render_ontonotes(sentences, False, False, False)
    name = "conll-formatted-ontonotes-5.0/data/test/data/english/annotations/bc/f/00/f.gold_conll"
    buffer = io.BytesIO()
    mode = data.draw(st.sampled_from(["w:xz", "w:gz", "w:bz2", "w"]))
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    good = buffer.getvalue()
    damaged = bytearray(good)
    how = data.draw(st.sampled_from(["truncate", "flip", "zero_run", "empty"]))
    at = data.draw(st.integers(0, len(good) - 1))
    if how == "truncate":
        damaged = damaged[:at]
    elif how == "flip":
        damaged[at] ^= data.draw(st.integers(1, 255))
    elif how == "zero_run":
        damaged[at : at + 64] = bytes(len(damaged[at : at + 64]))
    else:
        damaged = bytearray()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.tar.xz"
        path.write_bytes(good)
        reference = outcome(convert_ontonotes, path, split="test", lenient=True)[1]
        path.write_bytes(bytes(damaged))
        for lenient in (False, True):
            try:
                kind, got, _ = outcome(convert_ontonotes, path, split="test", lenient=lenient)
            except ConversionError as err:  # raised before the first Doc
                kind, got = "error", err
            if kind == "error":  # the archive as a whole, or a line of a damaged member
                whole = (got.path, got.line) == (str(path), None)
                member = got.path.startswith(f"{path}::") and got.line >= 1
                assert whole or (member and mode == "w"), str(got)
            else:
                # damage that spared the member (padding, end blocks): the same Docs, or (a
                # flipped byte inside an uncompressed member) the sentences it did not touch
                assert got == reference or mode == "w", (how, at)


# ------------------------------------------------------------------ i2b2 notes


@dataclass
class Concept:
    """One annotation line being fuzzed (2010 concept or 2009 entry)."""

    text: str
    begin: Tuple[str, str]
    end: Tuple[str, str]
    label: str
    damage: bool = False
    raw: Optional[bytes] = None
    duplicate: bool = False


def note_from(sentences) -> Tuple[List[List[str]], List[Tuple[int, int, int, str]]]:
    """Note lines (the words of real BC5CDR sentences) and their entities as (line, start,
    end_inclusive, label) with 1-based lines."""
    lines, ents = [], []
    for n, rows in enumerate(sentences, start=1):
        words = [r[0] for r in rows]
        lines.append(words)
        for s, e, label in iob_entities([r[-1] for r in rows]):
            ents.append((n, s, e - 1, label))
    return lines, ents


def mutate_offsets(data, c: Concept, lines: List[List[str]]) -> None:
    what = data.draw(st.sampled_from(["past_line", "past_note", "line_zero", "huge", "backwards",
                                      "mismatch", "malformed", "invalid_utf8", "duplicate"]))
    line = int(c.begin[0])
    if what == "past_line":
        c.end = (c.end[0], str(len(lines[line - 1]) + data.draw(st.integers(0, 5))))
    elif what == "past_note":
        c.begin = (str(len(lines) + data.draw(st.integers(1, 5))), c.begin[1])
    elif what == "line_zero":
        c.begin = ("0", c.begin[1])
    elif what == "huge":
        c.end = (c.end[0], "9" * data.draw(st.sampled_from([10, 4301, 50_000])))
    elif what == "backwards" and c.begin != c.end:
        c.begin, c.end = c.end, c.begin
    elif what == "mismatch":
        c.text = "fuzz " + c.text
    elif what == "malformed":
        c.raw = data.draw(st.sampled_from([b'c="x" 1:2', b"||", b'c="unbalanced 1:0 1:0',
                                           b"\x00" * 10, b'm="x" 1:0 1:0,||f=']))
    elif what == "invalid_utf8":
        c.raw = b'c="\xff" 1:0 1:0||t="problem"'
    else:
        c.duplicate = True
        return
    c.damage = what != "backwards" or c.begin != c.end


def fuzz_note(data, render_line, suffix: str, converter, labels) -> None:
    sentences = pick(data, column_slice("bc5cdr"), 5)
    lines, ents = note_from(sentences)
    concepts = [
        Concept(" ".join(lines[n - 1][s : e + 1]).lower(), (str(n), str(s)), (str(n), str(e)),
                labels[label])
        for n, s, e, label in ents
    ]
    for c in concepts:
        if data.draw(st.integers(0, 3)) == 0:
            mutate_offsets(data, c, lines)
    order = data.draw(st.permutations(range(len(concepts))))
    note_bom, ann_bom, crlf = (data.draw(st.booleans()) for _ in range(3))
    bad_note = data.draw(st.integers(0, 9)) == 0
    eol = b"\r\n" if crlf else b"\n"
    note = eol.join(" ".join(words).encode() for words in lines) + eol
    if bad_note:  # a byte that is not UTF-8 on line 1: the note is not converted
        note = b"\xc3(" + note
    ann_lines: List[bytes] = []
    numbers = {}
    for i in order:
        c = concepts[i]
        for _ in range(2 if c.duplicate else 1):
            ann_lines.append(c.raw if c.raw is not None else render_line(c).encode())
            numbers.setdefault(i, len(ann_lines))
    with tempfile.TemporaryDirectory() as tmp:
        note_path, ann_path = Path(tmp) / "n.txt", Path(tmp) / f"n{suffix}"
        note_path.write_bytes((BOM if note_bom else b"") + note)
        ann_path.write_bytes((BOM if ann_bom else b"") + b"".join(x + eol for x in ann_lines))
        exp = Expected(repaired=int(note_bom))
        if bad_note:
            exp.damage(str(note_path), 1)
        else:
            exp.repaired += int(ann_bom)
            kept = {}
            for i in sorted(numbers, key=numbers.get):
                c = concepts[i]
                if c.damage:
                    exp.damage(str(ann_path), numbers[i])
                else:
                    n, s, e, _ = ents[i]
                    kept.setdefault(n, []).append((s, e + 1, c.label))
            exp.docs = [(words, sorted(kept.get(n, []))) for n, words in
                        enumerate(lines, start=1)]
        check(converter, Path(tmp), exp)


LABELS_2010 = {"Chemical": "treatment", "Disease": "problem"}
LABELS_2009 = {"Chemical": "medication", "Disease": "reason"}


def con_line(c: Concept) -> str:
    return f'c="{c.text}" {":".join(c.begin)} {":".join(c.end)}||t="{c.label}"'


def m_line(c: Concept) -> str:
    field = f'="{c.text}" {":".join(c.begin)} {":".join(c.end)}'
    plain = '||e="nm"||t="nm"||c="nm"||ln="narrative"'
    if c.label == "medication":
        return f"m{field}||do=\"nm\"||mo=\"nm\"||f=\"nm\"||du=\"nm\"||r=\"nm\"{plain}"
    return f'm="nm"||do="nm"||mo="nm"||f="nm"||du="nm"||r{field}{plain}'


@FUZZ
@given(st.data())
def test_fuzz_i2b2_2010(data):
    fuzz_note(data, con_line, ".con", convert_i2b2_2010, LABELS_2010)


@FUZZ
@given(st.data())
def test_fuzz_i2b2_2009(data):
    fuzz_note(data, m_line, ".m", convert_i2b2_2009, LABELS_2009)
