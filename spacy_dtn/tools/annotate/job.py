"""The job: its accounting (every record read is annotated, skipped or counted as bad), the
provenance of its output, and the local backend that feeds it."""
import json
import os
import sys
import time
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Union

import srsly
from spacy.tokens import Doc
from tqdm import tqdm

from .. import loading
from .annotation import annotate_notes
from .readers import read_task
from .records import MAX_PRINTED_BAD, MAX_SUMMARY_BAD, AnnotateError, BadRecord, Note, OutputFormat
from .writers import DocBinWriter, detect_output_format


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


class Job:
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


def _notes_to_annotate(tasks: Sequence[Dict[str, Any]], job: Job) -> Iterator[Note]:
    """The notes to annotate, in order; bad records and notes already written are accounted
    for on the way (the local backend reads in the driver)."""
    for record in chain.from_iterable(read_task(t) for t in tasks):
        if isinstance(record, BadRecord):
            job.bad(record.where, record.reason)
        elif job.is_done(record.id):
            job.skip()
        else:
            yield record


def run_local(nlp, tasks: Sequence[Dict[str, Any]], job: Job, *, batch_size: int,
              n_process: int, max_chars: int, batch_chars: int,
              spans_key: Optional[str]) -> None:
    """The local backend: read in this process, annotate with ``nlp.pipe`` (``n_process``
    workers), write here."""
    for row, doc in annotate_notes(nlp, _notes_to_annotate(tasks, job), batch_size=batch_size,
                                   n_process=n_process, max_chars=max_chars,
                                   batch_chars=batch_chars, spans_key=spans_key,
                                   keep_docs=job.docbin is not None):
        job.result(row, doc)
