"""``python -m spacy_dtn annotate MODEL INPUT OUTPUT``: the entities of a whole note archive.

A clinical team trains once and then annotates millions of notes, again whenever the model
changes. So the job has to stream (memory must not grow with the archive), survive being
killed (a rerun skips the notes already written, by id, and never writes one twice), account
for every input record (a bad one is named by file and line and counted, never dropped), and
scale past one machine on an existing engine rather than a home-made one. The same job runs on
two backends with one output format:

* ``local``: ``nlp.pipe`` with ``--n-process`` worker processes;
* ``ray``: a Ray Data pipeline (read tasks → ``map_batches`` with one loaded pipeline per actor
  → results streamed back to the writer), on a local Ray instance or a cluster
  (``RAY_ADDRESS`` / ``--ray-address``). See ``docs/scale.md``.

Everything is importable (the typer command is :mod:`spacy_dtn.cli.annotate`): the readers
(:func:`plan_read_tasks`, :func:`read_task`), the long-note windowing (:func:`split_text`), the
annotation of a stream of notes (:func:`annotate_notes`), the resumable writers
(:class:`JsonlWriter`, :class:`ParquetWriter`, :class:`DocBinWriter`), the two backends and
:func:`annotate`, which runs a whole job and returns its summary.

Output: one record per note, in input order: ``{"id", "n_chars", "n_words", "entities":
[{"start", "end", "label", "text", "gates"?}]}``. A record per note (rather than per entity)
is what makes resuming exact: a note without entities is still marked done. ``start``/``end``
are character offsets into the note's text; ``gates`` (the mean of each DTN gate over the
entity's tokens) is present when the model stores gates (``store_gates`` or ``--gates``).

Provenance: the model behind an output (as given, its ``nlp.meta`` name and version, the
SHA-256 of its weights) is written beside it before its first record (:func:`provenance_path`)
and in the summary. A rerun resumes only with the same weights; another model is refused,
since one output would then mix two models' entities, unless ``overwrite`` discards the
earlier output first.
"""
import json
import logging
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from enum import Enum
from itertools import chain
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import spacy
import srsly
from spacy.tokens import Doc, DocBin
from tqdm import tqdm

from . import loading
from .component import GATES_EXTENSION

#: Bad records printed one per line before the rest are only counted (``--errors`` has all).
MAX_PRINTED_BAD = 1000
#: Bad records kept in the summary (the counts per reason are always complete).
MAX_SUMMARY_BAD = 100
#: The largest JSONL read task of the Ray backend: large enough to amortise a task, small
#: enough that many tasks feed the actors of a big cluster.
RAY_READ_BYTES = 16 * 2**20
#: Note ids stored with each Doc of a ``--docbin`` part, to resume it exactly.
NOTE_ID_KEY = "note_id"


class AnnotateError(Exception):
    """A problem with the command's input or output: one line, exit code 1."""


class InputFormat(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    parquet = "parquet"
    txt = "txt"


class OutputFormat(str, Enum):
    auto = "auto"
    jsonl = "jsonl"
    parquet = "parquet"


class Backend(str, Enum):
    local = "local"
    ray = "ray"


# Records ------------------------------------------------------------------------------------


@dataclass
class Note:
    """One input note. ``where`` names it in reports (``file:line``, ``file:row N``, a path)."""
    id: str
    text: str
    where: str


@dataclass
class BadRecord:
    """An input record that can't be annotated, and why."""
    where: str
    reason: str


Record = Union[Note, BadRecord]


def _unicode_problem(value: str) -> Optional[str]:
    """JSON may spell lone surrogates (``"\\ud800"``): valid JSON, not valid Unicode, and the
    UTF-8 writer would fail on them mid-job. Refuse them at the record instead."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"not valid Unicode (lone surrogate at character {err.start})"
    return None


def check_record(obj: Any, where: str, id_field: str, text_field: str) -> Record:
    """A :class:`Note` from a parsed record, or the :class:`BadRecord` saying what is wrong.

    Ids may be strings or integers (numbered notes); they are written as strings so that a
    Parquet column has one type and a resumed run compares like with like.
    """
    if not isinstance(obj, dict):
        return BadRecord(where, f"not a JSON object ({type(obj).__name__})")
    note_id, text = obj.get(id_field), obj.get(text_field)
    if note_id is None:
        return BadRecord(where, f"no {id_field!r}")
    if isinstance(note_id, bool) or not isinstance(note_id, (str, int)):
        return BadRecord(where, f"{id_field!r} is not a string or an integer")
    note_id = str(note_id)
    if not note_id.strip():
        return BadRecord(where, f"empty {id_field!r}")
    if text is None:
        return BadRecord(where, f"no {text_field!r}")
    if not isinstance(text, str):
        return BadRecord(where, f"{text_field!r} is not a string ({type(text).__name__})")
    for name, value in ((id_field, note_id), (text_field, text)):
        problem = _unicode_problem(value)
        if problem:
            return BadRecord(where, f"{name!r} is {problem}")
    return Note(note_id, text, where)


def parse_jsonl_line(raw: bytes, where: str, id_field: str, text_field: str) -> Optional[Record]:
    """One JSONL line as a record; ``None`` for a blank line (not a record: a trailing newline
    or a separating empty line is no data to lose)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return BadRecord(where, f"invalid UTF-8 at byte {err.start}")
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:  # some messages end in "at" ("... starting at")
        what = err.msg[:-3] if err.msg.endswith(" at") else err.msg
        return BadRecord(where, f"not JSON ({what} at column {err.colno})")
    return check_record(obj, where, id_field, text_field)


# Readers ------------------------------------------------------------------------------------
#
# An input is planned as read tasks (plain dicts, so they travel to Ray workers): a byte range
# of a JSONL file with its first line number, row groups of a Parquet file, or a list of .txt
# files. The local backend reads them in order in one process; the Ray backend reads them in
# parallel tasks. Either way every record keeps the line that names it in a report.


def read_jsonl(path: Union[str, Path], id_field: str = "id", text_field: str = "text",
               start: int = 0, stop: Optional[int] = None, first_line: int = 1
               ) -> Iterator[Record]:
    """The records of ``path`` between byte ``start`` (a line start) and ``stop``, read line by
    line in binary so that invalid UTF-8 is one bad record, not a crash of the whole job."""
    line_no = first_line
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while stop is None or pos < stop:
            raw = f.readline()
            if not raw:
                break
            pos += len(raw)
            record = parse_jsonl_line(raw, f"{path}:{line_no}", id_field, text_field)
            line_no += 1
            if record is not None:
                yield record


def plan_jsonl_ranges(path: Union[str, Path], target_bytes: int) -> List[Tuple[int, int, int]]:
    """``(start, stop, first_line)`` byte ranges of about ``target_bytes`` that end at line
    ends, so that parallel readers split no record and still number every line (one cheap pass
    counting newlines)."""
    size = os.path.getsize(path)
    ranges, start, line = [], 0, 1
    with open(path, "rb") as f:
        while start < size:
            f.seek(min(start + target_bytes, size))
            f.readline()  # to the end of the line the target falls in
            stop = min(f.tell(), size)
            f.seek(start)
            newlines, left = 0, stop - start
            while left:
                block = f.read(min(left, 2**20))
                newlines += block.count(b"\n")
                left -= len(block)
            ranges.append((start, stop, line))
            start, line = stop, line + newlines
    return ranges


def _as_text(value: Any, where: str) -> Tuple[Any, Optional[BadRecord]]:
    """A Parquet cell read as bytes, decoded strictly (Arrow does not check that a string
    column holds valid UTF-8, and one bad cell must not fail a whole batch)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as err:
            return None, BadRecord(where, f"invalid UTF-8 at byte {err.start}")
    return value, None


def _binary(column):
    """A string column viewed as binary, so that cells decode one at a time."""
    import pyarrow as pa

    if pa.types.is_string(column.type):
        return column.cast(pa.binary())
    if pa.types.is_large_string(column.type):
        return column.cast(pa.large_binary())
    return column


def read_parquet(path: Union[str, Path], id_field: str = "id", text_field: str = "text",
                 row_groups: Optional[Sequence[int]] = None) -> Iterator[Record]:
    """The records of a Parquet file (the given row groups, or all), a batch at a time."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    missing = [c for c in (id_field, text_field) if c not in pf.schema_arrow.names]
    if missing:
        raise AnnotateError(f"{path} has no column {missing[0]!r} (columns: "
                            f"{', '.join(pf.schema_arrow.names)}); set --id-field/--text-field")
    first_row = [0]
    for g in range(pf.num_row_groups):
        first_row.append(first_row[-1] + pf.metadata.row_group(g).num_rows)
    for g in range(pf.num_row_groups) if row_groups is None else row_groups:
        row = first_row[g]
        for batch in pf.iter_batches(batch_size=1024, row_groups=[g],
                                     columns=[id_field, text_field]):
            ids = _binary(batch.column(0)).to_pylist()
            texts = _binary(batch.column(1)).to_pylist()
            for note_id, text in zip(ids, texts):
                row += 1
                where = f"{path}:row {row}"
                note_id, bad = _as_text(note_id, where)
                if bad is None:
                    text, bad = _as_text(text, where)
                yield bad or check_record({id_field: note_id, text_field: text}, where,
                                          id_field, text_field)


def read_txt_files(folder: Union[str, Path], paths: Sequence[str]) -> Iterator[Record]:
    """One note per ``.txt`` file; its id is its path under ``folder`` without ``.txt``."""
    folder = Path(folder)
    for name in paths:
        path = folder / name
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            yield BadRecord(str(path), f"invalid UTF-8 at byte {err.start}")
            continue
        problem = _unicode_problem(text)
        yield BadRecord(str(path), problem) if problem else Note(
            Path(name).with_suffix("").as_posix(), text, str(path))


def detect_input_format(path: Path, fmt: InputFormat = InputFormat.auto) -> InputFormat:
    """JSONL unless the name ends in ``.parquet``; a folder holds ``.txt`` notes, or Parquet
    files when it has no ``.txt`` but ``.parquet`` files (a Parquet dataset)."""
    if not path.exists():
        raise AnnotateError(f"Input not found: {path}")
    if fmt != InputFormat.auto:
        return fmt
    if path.is_dir():
        has_txt = next(path.rglob("*.txt"), None) is not None
        if not has_txt and next(path.glob("*.parquet"), None) is not None:
            return InputFormat.parquet
        return InputFormat.txt
    return InputFormat.parquet if path.suffix == ".parquet" else InputFormat.jsonl


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, value)))


def plan_read_tasks(path: Union[str, Path], fmt: InputFormat = InputFormat.auto,
                    id_field: str = "id", text_field: str = "text", parallel: int = 0
                    ) -> List[Dict[str, Any]]:
    """The read tasks of an input: one per file for ``parallel=0`` (the local backend reads
    in order anyway); for ``parallel`` readers, about ``4 × parallel`` tasks or more (JSONL byte
    ranges of 64 KiB to 16 MiB, Parquet row groups, up to 1,000 .txt files a task), since
    Ray gives each actor whole blocks: one task for a small file would feed one actor only."""
    path = Path(path)
    fmt = detect_input_format(path, fmt)
    base = {"format": fmt.value, "id_field": id_field, "text_field": text_field}
    if fmt == InputFormat.txt:
        if not path.is_dir():
            raise AnnotateError(f"--input-format txt needs a folder of .txt notes: {path}")
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.txt")
                       if p.is_file())
        per_task = _clamp(-(-len(names) // (4 * parallel)), 1, 1000) if parallel else len(names)
        return [{**base, "folder": str(path), "paths": names[i:i + per_task]}
                for i in range(0, len(names), max(1, per_task))]
    files = sorted(path.glob(f"*.{fmt.value}")) if path.is_dir() else [path]
    split_bytes = None
    if parallel:
        total = sum(f.stat().st_size for f in files)
        split_bytes = _clamp(total / (4 * parallel), 64 * 2**10, RAY_READ_BYTES)
    tasks = []
    for file in files:
        if fmt == InputFormat.parquet:
            import pyarrow.parquet as pq

            try:
                n_groups = pq.ParquetFile(file).num_row_groups
            except Exception as err:  # ArrowInvalid and friends: not a Parquet file
                raise AnnotateError(f"Can't read {file} as Parquet: {err}") from None
            groups = [[g] for g in range(n_groups)] if split_bytes else [list(range(n_groups))]
            tasks += [{**base, "path": str(file), "row_groups": g} for g in groups if g]
        elif split_bytes:
            tasks += [{**base, "path": str(file), "start": a, "stop": b, "first_line": n}
                      for a, b, n in plan_jsonl_ranges(file, split_bytes)]
        else:
            tasks.append({**base, "path": str(file), "start": 0, "stop": None, "first_line": 1})
    return tasks


def read_task(task: Dict[str, Any]) -> Iterator[Record]:
    """The records of one read task from :func:`plan_read_tasks`."""
    fields = task["id_field"], task["text_field"]
    if task["format"] == InputFormat.txt.value:
        return read_txt_files(task["folder"], task["paths"])
    if task["format"] == InputFormat.parquet.value:
        return read_parquet(task["path"], *fields, row_groups=task["row_groups"])
    return read_jsonl(task["path"], *fields, start=task["start"], stop=task["stop"],
                      first_line=task["first_line"])


def count_notes(tasks: Sequence[Dict[str, Any]]) -> Optional[int]:
    """The number of records when it is known without reading them (a progress bar total)."""
    total = 0
    for task in tasks:
        if task["format"] == InputFormat.txt.value:
            total += len(task["paths"])
        elif task["format"] == InputFormat.parquet.value:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(task["path"]).metadata
            total += sum(meta.row_group(g).num_rows for g in task["row_groups"])
        else:
            return None
    return total


# Long notes ---------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
_WHITESPACE = re.compile(r"\s+")


def _last_match_end(pattern: re.Pattern, window: str) -> int:
    end = 0
    for match in pattern.finditer(window):
        end = match.end()
    return end


def _cut(window: str) -> int:
    """Where to end a piece within ``window``: after the last blank line, else line break,
    else sentence end, else whitespace, preferring one in the window's second half (no tiny
    pieces); a hard cut at the window's end only when it holds no whitespace at all."""
    candidates = []
    for finder in (lambda w: w.rfind("\n\n") + 2 if "\n\n" in w else 0,
                   lambda w: w.rfind("\n") + 1,
                   lambda w: _last_match_end(_SENTENCE_END, w),
                   lambda w: _last_match_end(_WHITESPACE, w)):
        cut = finder(window)
        if cut >= len(window) // 2:
            return cut
        candidates.append(cut)
    return max(candidates) or len(window)


def split_text(text: str, max_chars: int) -> List[Tuple[int, str]]:
    """``(offset, piece)`` pieces of at most ``max_chars`` characters that concatenate to
    ``text``, cut at paragraph, line, sentence or word boundaries.

    Why: a Doc and the DTN's activations cost ~13 KB per token (measured), so one 50,000-token note
    would need more than half a gigabyte at once (and the DTN's LSTMs would run 50,000 steps,
    which is also slow); pieces of a few thousand characters, in batches bounded by
    characters (:func:`char_batches`), keep memory bounded. Entities are shifted back by the
    piece's offset. ``max_chars <= 0`` never splits.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return [(0, text)]
    pieces, start = [], 0
    while len(text) - start > max_chars:
        end = start + _cut(text[start:start + max_chars])
        pieces.append((start, text[start:end]))
        start = end
    pieces.append((start, text[start:]))
    return pieces


# Annotation ---------------------------------------------------------------------------------


def load_pipeline(model: str, gates: bool = False):
    """``spacy.load`` with one-line errors; ``gates`` turns ``store_gates`` on in every
    component that has it (so a model trained without it still gives gate summaries)."""
    nlp = loading.load_pipeline(model, AnnotateError)
    if gates:
        with_gates = [pipe for _, pipe in nlp.pipeline if hasattr(pipe, "store_gates")]
        if not with_gates:
            raise AnnotateError(f"--gates: {model} has no component that stores gates")
        for pipe in with_gates:
            pipe.store_gates = True
    return nlp


def doc_entities(doc: Doc, offset: int = 0, spans_key: Optional[str] = None
                 ) -> List[Dict[str, Any]]:
    """The entities of a (piece) doc with character offsets into the note (``offset`` is the
    piece's start), and each entity's mean gate values when the doc carries gates."""
    if spans_key is None:
        spans = doc.ents
    else:
        spans = doc.spans[spans_key] if spans_key in doc.spans else []
    gates = doc._.get(GATES_EXTENSION) if Doc.has_extension(GATES_EXTENSION) else None
    entities = []
    for span in spans:
        entity = {"start": offset + span.start_char, "end": offset + span.end_char,
                  "label": span.label_, "text": span.text}
        if gates:
            entity["gates"] = {name: sum(values[span.start:span.end]) / len(span)
                               for name, values in gates.items()}
        entities.append(entity)
    return entities


def _pieces(notes: Iterable[Note], max_chars: int) -> Iterator[Tuple[str, tuple]]:
    for note in notes:
        pieces = split_text(note.text, max_chars)
        for k, (offset, piece) in enumerate(pieces):
            yield piece, (note.id, note.where, len(note.text), offset, k, len(pieces))


def merge_pieces(docs: Sequence[Doc], note_id: str) -> Doc:
    """One Doc for a note from its pieces (texts concatenate exactly), with the note id and
    the gates concatenated, for the DocBin output."""
    if len(docs) == 1:
        doc = docs[0]
    else:
        with warnings.catch_warnings():  # W101: doc-level extensions are not merged...
            warnings.simplefilter("ignore")
            doc = Doc.from_docs(list(docs), ensure_whitespace=False)
        gates = [d._.get(GATES_EXTENSION) for d in docs]
        if all(gates):  # ...so the gates are concatenated here
            doc._.set(GATES_EXTENSION, {name: [v for g in gates for v in g[name]]
                                        for name in gates[0]})
    doc.user_data[NOTE_ID_KEY] = note_id
    return doc


def char_batches(items: Iterable[Tuple[str, Any]], batch_size: int, batch_chars: int
                 ) -> Iterator[List[Tuple[str, Any]]]:
    """``(text, context)`` items in batches of at most ``batch_size`` items and, unless one
    item is longer alone, ``batch_chars`` characters.

    Why: the DTN's memory grows with the tokens of a batch (it packs, it does not pad), and a
    count of docs says nothing about tokens: 64 pieces of a long note are 64 times the tokens
    of 64 one-line notes. Cutting a long note alone bounds one Doc, not the batch.
    """
    batch, chars = [], 0
    for item in items:
        if batch and (len(batch) >= batch_size or chars + len(item[0]) > batch_chars):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += len(item[0])
    if batch:
        yield batch


def annotate_notes(nlp, notes: Iterable[Note], *, batch_size: int = 64, n_process: int = 1,
                   max_chars: int = 10_000, batch_chars: int = 50_000,
                   spans_key: Optional[str] = None, keep_docs: bool = False
                   ) -> Iterator[Tuple[Dict[str, Any], Optional[Doc]]]:
    """``(row, doc)`` per note, in order: the note's output row (with its ``where``) and, with
    ``keep_docs``, its Doc. Long notes go through ``nlp.pipe`` as pieces (:func:`split_text`)
    and come back as one row.

    In one process (and in every Ray actor) batches are bounded by ``batch_size`` pieces and
    ``batch_chars`` characters (:func:`char_batches`). spaCy's multiprocessing batches by
    count only, so with ``n_process > 1`` a batch is bounded by ``batch_size × max_chars``
    characters. ``nlp.pipe`` keeps the order either way.
    """
    pieces = _pieces(notes, max_chars)
    if n_process == 1:
        stream = chain.from_iterable(
            nlp.pipe(batch, as_tuples=True, batch_size=len(batch))
            for batch in char_batches(pieces, batch_size, batch_chars))
    else:
        stream = nlp.pipe(pieces, as_tuples=True, batch_size=batch_size, n_process=n_process)
    entities, n_words, docs = [], 0, []
    for doc, (note_id, where, n_chars, offset, k, n_pieces) in stream:
        if k == 0:
            entities, n_words, docs = [], 0, []
        entities += doc_entities(doc, offset, spans_key)
        n_words += len(doc)
        if keep_docs:
            docs.append(doc)
        if k == n_pieces - 1:
            row = {"id": note_id, "n_chars": n_chars, "n_words": n_words,
                   "entities": entities, "where": where, "n_pieces": n_pieces}
            yield row, (merge_pieces(docs, note_id) if keep_docs else None)


# Writers ------------------------------------------------------------------------------------

#: The fields of an output record, in order (``where`` and ``n_pieces`` are internal).
OUTPUT_FIELDS = ("id", "n_chars", "n_words", "entities")


def output_record(row: Dict[str, Any]) -> Dict[str, Any]:
    return {name: row[name] for name in OUTPUT_FIELDS}


class JsonlWriter:
    """One line per note, appended a chunk at a time (one write, flushed and synced).

    A run killed at any moment leaves whole lines and at most one half line; the next run cuts
    the half line off and reads the ids of the whole ones (:attr:`done`) to skip them. A whole
    line that is not an annotate record means a foreign file: refused, never appended to.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.truncated = 0  # bytes of a half-written last line cut off on resume
        self.done: Set[str] = self._recover()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)

    def _recover(self) -> Set[str]:
        done: Set[str] = set()
        if not self.path.exists():
            return done
        good_end = 0
        with open(self.path, "rb") as f:
            for line_no, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # the half line an interrupted write left
                try:
                    note_id = json.loads(raw)["id"]
                except (ValueError, KeyError, TypeError):
                    raise AnnotateError(f"{self.path}:{line_no}: not a record annotate "
                                        "writes; refusing to append to this file") from None
                done.add(note_id)
                good_end += len(raw)
        size = self.path.stat().st_size
        if good_end < size:
            os.truncate(self.path, good_end)
            self.truncated = size - good_end
        return done

    def write(self, rows: Sequence[Dict[str, Any]]) -> None:
        """All or nothing while this process lives: a failed write (a full disk, Ctrl-C) is cut
        back off, so that lines written after it never follow a half line."""
        data = memoryview("".join(json.dumps(output_record(r), ensure_ascii=False) + "\n"
                                  for r in rows).encode("utf-8"))
        fd = self._file.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, start)
            raise

    def close(self) -> None:
        self._file.close()


def parquet_schema():
    """One row per note; entities a list of structs; gates a name → mean map (null without)."""
    import pyarrow as pa

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                        ("text", pa.string()),
                        ("gates", pa.map_(pa.string(), pa.float64()))])
    return pa.schema([("id", pa.string()), ("n_chars", pa.int64()), ("n_words", pa.int64()),
                      ("entities", pa.list_(entity))])


class _Parts:
    """Numbered part files in a folder, each written whole under a temporary name and renamed
    into place, so a part either exists complete or not at all."""
    suffix = ""

    def __init__(self, folder: Union[str, Path]):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise AnnotateError(f"{self.folder} is a file; the output needs a folder of parts")
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob(f".part-*{self.suffix}.tmp"):
            tmp.unlink()  # an interrupted write
        self.next_index = 1 + max((self._index(p) for p in self.parts()), default=-1)

    def parts(self) -> List[Path]:
        return sorted(self.folder.glob(f"part-*{self.suffix}"))

    @staticmethod
    def _index(path: Path) -> int:
        return int(path.name.split(".")[0].split("-")[1])

    def _commit(self, write) -> Path:
        final = self.folder / f"part-{self.next_index:06d}{self.suffix}"
        tmp = self.folder / f".{final.name}.tmp"
        write(tmp)
        os.replace(tmp, final)
        self.next_index += 1
        return final


class ParquetWriter(_Parts):
    """A folder of Parquet parts, one per chunk of notes (readable as one dataset by pyarrow,
    pandas, Spark or Ray); :attr:`done` holds the ids of the parts already there."""
    suffix = ".parquet"

    def __init__(self, folder: Union[str, Path]):
        import pyarrow.parquet as pq

        super().__init__(folder)
        self.truncated = 0
        self.done: Set[str] = set()
        for part in self.parts():
            try:
                ids = pq.read_table(part, columns=["id"]).column("id").to_pylist()
            except Exception as err:  # ArrowInvalid, KeyError: not a part annotate wrote
                raise AnnotateError(f"{part}: not a part annotate writes ({err}); refusing "
                                    "to add parts to this folder") from None
            self.done.update(ids)

    def write(self, rows: Sequence[Dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([output_record(r) for r in rows], schema=parquet_schema())
        self._commit(lambda tmp: pq.write_table(table, tmp))

    def close(self) -> None:
        pass


class DocBinWriter(_Parts):
    """``--docbin``: a folder of DocBin parts, one per chunk, each Doc with its note id.

    A part is committed before the chunk's entities, so an interruption in between leaves a
    part whose notes the main output lacks: :meth:`recover` keeps only the notes the main output
    has (those are not redone), and the rest are annotated and written again in a new part.
    """
    suffix = ".spacy"

    def recover(self, done: Set[str], vocab) -> None:
        for part in self.parts():
            docs = list(DocBin().from_disk(part).get_docs(vocab))
            kept = [d for d in docs if d.user_data.get(NOTE_ID_KEY) in done]
            if not kept:
                part.unlink()
            elif len(kept) < len(docs):
                self._rewrite(part, kept)

    @staticmethod
    def _rewrite(part: Path, docs: List[Doc]) -> None:
        tmp = part.with_name(f".{part.name}.tmp")
        DocBin(docs=docs, store_user_data=True).to_disk(tmp)
        os.replace(tmp, part)

    def write(self, docs: Sequence[Doc]) -> None:
        self._commit(lambda tmp: DocBin(docs=docs, store_user_data=True).to_disk(tmp))


def detect_output_format(path: Path, fmt: OutputFormat = OutputFormat.auto) -> OutputFormat:
    if fmt != OutputFormat.auto:
        return fmt
    if path.suffix in (".jsonl", ".ndjson", ".json"):
        return OutputFormat.jsonl
    if path.suffix == ".parquet" or path.is_dir():
        return OutputFormat.parquet
    raise AnnotateError(f"Can't tell the output format of {path} (.jsonl or .parquet); "
                        "set --output-format")


def open_writer(path: Union[str, Path], fmt: OutputFormat = OutputFormat.auto):
    path = Path(path)
    if detect_output_format(path, fmt) == OutputFormat.jsonl:
        if path.is_dir():
            raise AnnotateError(f"{path} is a folder; JSONL output is one file")
        return JsonlWriter(path)
    return ParquetWriter(path)


def read_output(path: Union[str, Path], fmt: OutputFormat = OutputFormat.auto
                ) -> List[Dict[str, Any]]:
    """The records an annotate run wrote, in order, in JSONL's shape (gates as dicts, absent
    when null): for tests, checks and small outputs."""
    path = Path(path)
    if detect_output_format(path, fmt) == OutputFormat.jsonl:
        return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]
    import pyarrow.parquet as pq

    records = []
    for part in sorted(path.glob("part-*.parquet")):
        for rec in pq.read_table(part).to_pylist():
            for ent in rec["entities"]:
                gates = ent.pop("gates")
                if gates is not None:
                    ent["gates"] = dict(gates)
            records.append(rec)
    return records


# The job ------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a run did. Every record read is annotated, skipped as already written, or bad:
    ``read == annotated + skipped + bad``."""
    read: int = 0
    annotated: int = 0
    skipped: int = 0
    bad: int = 0
    entities: int = 0
    words: int = 0
    pieces: int = 0
    split_notes: int = 0
    truncated_bytes: int = 0
    seconds: float = 0.0
    model: Dict[str, str] = field(default_factory=dict)
    bad_by_reason: Dict[str, int] = field(default_factory=dict)
    bad_records: List[Dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        speed = self.seconds or float("nan")
        return {**self.__dict__, "notes_per_s": self.annotated / speed,
                "words_per_s": self.words / speed}


#: Bad-record reasons grouped in the summary by their text before details (``not JSON (...)``).
def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0]


class _Job:
    """The driver's side of a run, the same for both backends: counts, reports and writes the
    stream of results in chunks, skipping ids already written."""

    def __init__(self, writer, docbin: Optional[DocBinWriter], *, strict: bool,
                 chunk_size: int, errors: Optional[Path], total: Optional[int],
                 model: Dict[str, str]):
        self.writer, self.docbin, self.strict = writer, docbin, strict
        self.chunk_size = chunk_size
        self.summary = Summary(truncated_bytes=writer.truncated, model=model)
        self.done_before = set(writer.done)
        self.written: Set[str] = set()
        self.rows: List[Dict[str, Any]] = []
        self.docs: List[Doc] = []
        self.errors = open(errors, "a", encoding="utf8") if errors else None
        self.started = time.perf_counter()
        self.bar = tqdm(total=total, desc="annotate", unit="note", file=sys.stderr,
                        disable=None, dynamic_ncols=True)

    def bad(self, where: str, reason: str) -> None:
        s = self.summary
        s.read += 1
        s.bad += 1
        kind = _reason_kind(reason)
        s.bad_by_reason[kind] = s.bad_by_reason.get(kind, 0) + 1
        if len(s.bad_records) < MAX_SUMMARY_BAD:
            s.bad_records.append({"where": where, "reason": reason})
        if self.strict:
            raise AnnotateError(f"{where}: {reason} (--strict)")
        if s.bad <= MAX_PRINTED_BAD:
            tqdm.write(f"{where}: {reason}", file=sys.stderr)
        if self.errors:
            self.errors.write(json.dumps({"where": where, "reason": reason},
                                         ensure_ascii=False) + "\n")
        self.bar.update(1)

    def skip(self) -> None:
        self.summary.read += 1
        self.summary.skipped += 1
        self.bar.update(1)

    def is_done(self, note_id: str) -> bool:
        """Written by an earlier run: skip before annotating."""
        return note_id in self.done_before

    def result(self, row: Dict[str, Any], doc: Optional[Doc] = None) -> None:
        if row["id"] in self.written:  # the input has the id twice: never write it twice
            self.bad(row["where"], f"duplicate id ({row['id']!r} written already)")
            return
        s = self.summary
        s.read += 1
        s.annotated += 1
        s.entities += len(row["entities"])
        s.words += row["n_words"]
        s.pieces += row["n_pieces"]
        s.split_notes += row["n_pieces"] > 1
        self.written.add(row["id"])
        self.rows.append(row)
        if doc is not None:
            self.docs.append(doc)
        self.bar.update(1)
        if len(self.rows) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        rows, docs = self.rows, self.docs
        self.rows, self.docs = [], []  # a chunk whose write failed is not written again
        if self.docbin is not None and docs:
            self.docbin.write(docs)
        if rows:
            self.writer.write(rows)
        elapsed = time.perf_counter() - self.started
        if elapsed > 0:
            self.bar.set_postfix_str(f"{self.summary.words / elapsed:,.0f} words/s")

    def close(self) -> Summary:
        self.flush()
        self.bar.close()
        self.writer.close()
        if self.errors:
            self.errors.close()
        self.summary.seconds = time.perf_counter() - self.started
        return self.summary


# Provenance ---------------------------------------------------------------------------------


def model_provenance(nlp, model: str) -> Dict[str, str]:
    """The model behind an output: as given (a path or a package name), its package name and
    version from ``nlp.meta``, and the fingerprint of its weights (what decides a resume)."""
    return {"model": str(model), "name": f"{nlp.lang}_{nlp.meta['name']}",
            "version": nlp.meta["version"], "weights_sha256": loading.weights_fingerprint(nlp)}


def describe_model(provenance: Dict[str, str]) -> str:
    """``MODEL (NAME VERSION, weights SHA[:12])``: a model in one line."""
    return (f"{provenance['model']} ({provenance['name']} {provenance['version']}, "
            f"weights {provenance['weights_sha256'][:12]})")


def provenance_path(output: Union[str, Path], fmt: OutputFormat = OutputFormat.auto) -> Path:
    """Where an output's provenance is: ``OUTPUT.model.json`` beside a JSONL file,
    ``_model.json`` in a Parquet folder (Parquet readers skip names that start with ``_``)."""
    output = Path(output)
    if detect_output_format(output, fmt) == OutputFormat.jsonl:
        return output.with_name(output.name + ".model.json")
    return output / "_model.json"


def claim_output(writer, output: Path, fmt: OutputFormat, provenance: Dict[str, str]) -> None:
    """Record ``provenance`` as the output's model before its first record, or check that the
    records already there are that model's (by its weights): another model's, or records with
    no provenance (an earlier version of annotate), are refused."""
    path = provenance_path(output, fmt)
    earlier = srsly.read_json(path) if path.exists() else None
    advice = "pass --overwrite to discard it and start over, or give another output"
    if writer.done and earlier is None:
        raise AnnotateError(f"{output} holds {len(writer.done):,} records but no {path.name} "
                            f"naming their model: {advice}")
    if writer.done and earlier.get("weights_sha256") != provenance["weights_sha256"]:
        raise AnnotateError(f"{output} holds the entities of {describe_model(earlier)}, not "
                            f"of {describe_model(provenance)}: {advice}")
    if earlier != provenance:
        tmp = path.with_name(f".{path.name}.tmp")
        srsly.write_json(tmp, provenance)
        os.replace(tmp, path)


def discard_output(output: Path, fmt: OutputFormat, docbin: Optional[Path],
                   errors: Optional[Path]) -> None:
    """``--overwrite``: remove what earlier runs wrote (the output, its provenance, the DocBin
    parts, the bad-record log), and only that: a Parquet folder keeps any other file."""
    files = [provenance_path(output, fmt), errors]
    if detect_output_format(output, fmt) == OutputFormat.jsonl:
        files.append(output)
    elif output.is_dir():
        files += list(output.glob("part-*.parquet")) + list(output.glob(".part-*.tmp"))
    if docbin is not None and docbin.is_dir():
        files += list(docbin.glob("part-*.spacy")) + list(docbin.glob(".part-*.tmp"))
    for path in files:
        if path is not None and path.is_file():
            path.unlink()


def _notes_to_annotate(tasks: Sequence[Dict[str, Any]], job: _Job) -> Iterator[Note]:
    """The notes to annotate, in order; bad records and notes already written are accounted
    for on the way (the local backend reads in the driver)."""
    for record in chain.from_iterable(read_task(t) for t in tasks):
        if isinstance(record, BadRecord):
            job.bad(record.where, record.reason)
        elif job.is_done(record.id):
            job.skip()
        else:
            yield record


def run_local(nlp, tasks: Sequence[Dict[str, Any]], job: _Job, *, batch_size: int,
              n_process: int, max_chars: int, batch_chars: int,
              spans_key: Optional[str]) -> None:
    """The local backend: read in this process, annotate with ``nlp.pipe`` (``n_process``
    workers), write here."""
    for row, doc in annotate_notes(nlp, _notes_to_annotate(tasks, job), batch_size=batch_size,
                                   n_process=n_process, max_chars=max_chars,
                                   batch_chars=batch_chars, spans_key=spans_key,
                                   keep_docs=job.docbin is not None):
        job.result(row, doc)


# The Ray backend ----------------------------------------------------------------------------

RAY_INSTALL = ("--backend ray needs Ray Data: pip install 'spacy_dtn[ray]' "
               "(or pip install 'ray[data]>=2.9' pyarrow)")


def require_ray():
    """``ray`` (with ``ray.data``) or an :class:`AnnotateError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise AnnotateError(RAY_INSTALL) from None
    return ray


def _ray_read(task: Dict[str, Any], done: Set[str]) -> Iterator[Dict[str, Any]]:
    """Rows of one read task for Ray: ``status`` ok (with its text), bad (with the reason) or
    done (written by an earlier run: its text is not shipped to an actor)."""
    for record in read_task(task):
        if isinstance(record, BadRecord):
            yield {"status": "bad", "id": None, "text": None, "where": record.where,
                   "reason": record.reason}
        elif record.id in done:
            yield {"status": "done", "id": record.id, "text": None, "where": record.where,
                   "reason": None}
        else:
            yield {"status": "ok", "id": record.id, "text": record.text,
                   "where": record.where, "reason": None}


class RayAnnotator:
    """A Ray Data actor: loads the pipeline once and annotates batches of rows with it, bad and
    done rows passed through untouched so that the driver accounts for every record."""

    def __init__(self, model: str, gates: bool, max_chars: int, batch_chars: int,
                 spans_key: Optional[str], batch_size: int, threads: int, gpu: bool):
        import torch

        torch.set_num_threads(max(1, threads))
        if gpu:
            spacy.require_gpu()
        self.nlp = load_pipeline(model, gates)
        self.max_chars, self.batch_chars = max_chars, batch_chars
        self.spans_key, self.batch_size = spans_key, batch_size

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        notes = [Note(r["id"], r["text"], r["where"]) for r in rows if r["status"] == "ok"]
        results = iter(annotate_notes(self.nlp, notes, batch_size=self.batch_size,
                                      max_chars=self.max_chars, batch_chars=self.batch_chars,
                                      spans_key=self.spans_key))
        out = []
        for r in rows:
            result = {"status": r["status"], "id": r["id"], "where": r["where"],
                      "reason": r["reason"], "row": None}
            if r["status"] == "ok":
                result["row"] = json.dumps(next(results)[0], ensure_ascii=False)
            out.append(result)
        return pa.Table.from_pylist(out, schema=pa.schema(
            [(name, pa.string()) for name in ("status", "id", "where", "reason", "row")]))


def run_ray(model: str, tasks: Sequence[Dict[str, Any]], job: _Job, *, batch_size: int,
            n_process: int, max_chars: int, batch_chars: int, spans_key: Optional[str],
            gates: bool,
            address: Optional[str], cpus_per_actor: float, gpus_per_actor: float) -> None:
    """The Ray backend: read tasks in parallel (``from_items`` → ``flat_map``), one loaded
    pipeline per actor (``map_batches`` with ``concurrency=n_process``), results streamed
    back in input order to the same writer as the local backend (``iter_batches``).

    Results, not texts, come back: a note's entities are a small fraction of its bytes, and
    one writer keeps resuming, duplicate checks and bad-record reports exact and the output
    identical to the local backend's.
    """
    ray = require_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True,
                     logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = " ".join(str(err).split()).split(". ")[0]
            raise AnnotateError(f"Can't start or join Ray (address {address or 'auto'}): "
                                f"{first}; see docs/scale.md") from None
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # this command's own bar counts notes and words
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "disabled"
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
    if Path(model).exists():  # workers resolve paths from their own directory
        model = str(Path(model).resolve())
    done = job.done_before
    ds = ray.data.from_items(list(tasks), override_num_blocks=max(1, len(tasks)))
    # Reading takes no CPU slot: with every CPU given to an actor, readers that each wanted
    # one would wait for the actors, and the actors for them.
    ds = ds.flat_map(_ray_read, fn_kwargs={"done": done}, num_cpus=0)
    ds = ds.map_batches(
        RayAnnotator, batch_size=batch_size, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=n_process),
        num_cpus=cpus_per_actor, num_gpus=gpus_per_actor or None,
        fn_constructor_kwargs={"model": model, "gates": gates, "max_chars": max_chars,
                               "batch_chars": batch_chars, "spans_key": spans_key,
                               "batch_size": batch_size,
                               "threads": int(cpus_per_actor), "gpu": gpus_per_actor > 0},
    )
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for r in batch.to_pylist():
                if r["status"] == "bad":
                    job.bad(r["where"], r["reason"])
                elif r["status"] == "done":
                    job.skip()
                else:
                    job.result(json.loads(r["row"]))
    except ray.exceptions.RayError as err:
        cause = _ray_cause(err)
        if cause is None:
            raise
        raise AnnotateError(f"on a Ray worker: {cause}") from None


def _ray_cause(err: BaseException) -> Optional[str]:
    """The message of the :class:`AnnotateError` (a model that does not load on a worker, a
    missing column) inside a Ray error: a task error keeps it as its ``cause``; an actor that
    died in its constructor keeps only the worker's traceback text, whose last line it is."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, AnnotateError):
            return str(err)
        found = re.findall(r"AnnotateError: (.+)", str(err))
        if found:
            return found[-1].strip()
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


def annotate(model: str, input_path: Union[str, Path], output: Union[str, Path], *,
             input_format: InputFormat = InputFormat.auto,
             output_format: OutputFormat = OutputFormat.auto, id_field: str = "id",
             text_field: str = "text", spans_key: Optional[str] = None, gates: bool = False,
             docbin: Optional[Union[str, Path]] = None, batch_size: int = 64,
             n_process: int = 1, max_chars: int = 10_000, batch_chars: int = 50_000,
             chunk_size: int = 1000,
             strict: bool = False, errors: Optional[Union[str, Path]] = None,
             backend: Backend = Backend.local, ray_address: Optional[str] = None,
             cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0,
             overwrite: bool = False) -> Summary:
    """Annotate every note of ``input_path`` with ``model`` into ``output``; resumable by the
    same model (by its weights), or started over with ``overwrite``.

    RETURNS: the run's :class:`Summary` (``read == annotated + skipped + bad``).
    """
    backend = Backend(backend)
    if min(batch_size, n_process, chunk_size, batch_chars) < 1:
        raise AnnotateError("--batch-size, --batch-chars, --n-process and --chunk-size must be "
                            "at least 1")
    if max_chars < 0:
        raise AnnotateError(f"--max-chars must be 0 (never split) or more, got {max_chars}")
    if backend == Backend.ray:
        require_ray()  # before the (slow) load, and before any output is created
        if docbin is not None:
            raise AnnotateError("--docbin works with the local backend only")
    tasks = plan_read_tasks(input_path, InputFormat(input_format), id_field, text_field,
                            parallel=n_process if backend == Backend.ray else 0)
    # Loaded here for the Ray backend too: its weights name the output's model.
    nlp = load_pipeline(model, gates)
    provenance = model_provenance(nlp, model)
    output, output_format = Path(output), OutputFormat(output_format)
    if overwrite:
        discard_output(output, output_format, Path(docbin) if docbin else None,
                       Path(errors) if errors else None)
    writer = open_writer(output, output_format)
    try:
        claim_output(writer, output, output_format, provenance)
    except AnnotateError:
        writer.close()
        raise
    docbin_writer = None
    if docbin is not None:
        docbin_writer = DocBinWriter(docbin)
        docbin_writer.recover(writer.done, nlp.vocab)
    job = _Job(writer, docbin_writer, strict=strict, chunk_size=chunk_size,
               errors=Path(errors) if errors else None, total=count_notes(tasks),
               model=provenance)
    try:
        if backend == Backend.local:
            run_local(nlp, tasks, job, batch_size=batch_size, n_process=n_process,
                      max_chars=max_chars, batch_chars=batch_chars, spans_key=spans_key)
        else:
            run_ray(model, tasks, job, batch_size=batch_size, n_process=n_process,
                    max_chars=max_chars, batch_chars=batch_chars, spans_key=spans_key,
                    gates=gates,
                    address=ray_address, cpus_per_actor=cpus_per_actor,
                    gpus_per_actor=gpus_per_actor)
    finally:
        summary = job.close()  # what was annotated before an error is kept: resumable
    return summary
