"""Annotate's vocabulary: its error, its options, and one input record (a note or a bad
record named by file and line), checked as it is read."""
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, Union

#: Bad records printed one per line before the rest are only counted (``--errors`` has all).
MAX_PRINTED_BAD = 1000
#: Bad records kept in the summary (the counts per reason are always complete).
MAX_SUMMARY_BAD = 100
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


def unicode_problem(value: str) -> Optional[str]:
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
        problem = unicode_problem(value)
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
