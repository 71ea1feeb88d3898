"""i2b2 2009 medications: notes ``NAME.txt`` with ``NAME.m`` (or ``NAME.i2b2.entries``).

Each annotation line is one medication entry, fields joined by ``||`` in the order
``m, do, mo, f, du, r, e, t, c, ln``. A field with text reads ``key="text" L:T L:T``; a field
not mentioned reads ``key="nm"``; ``e``, ``t``, ``c`` and ``ln`` carry no offsets. A
discontinuous field separates its texts with ``...`` and its offset pairs with commas.

Representation: the six fields with offsets become entities labelled by :data:`LABELS`. Each
contiguous piece of a discontinuous field becomes its own entity of the field's label (counted
as ``discontinuous pieces``). The same span in several entries (one reason for two drugs) is
written once (the others counted as duplicates). Accepted defects of the real release, counted
as repaired: a stray ``|||`` between fields, offset pairs separated by a space instead of a
comma (and, should one occur, an empty field from a leading or trailing ``||``).
"""

import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .docs import Entity
from .errors import ConversionError
from .i2b2 import OFFSET, Note, convert_note_pairs, mismatch_error, parse_position, text_matches
from .summary import ConversionSummary
from .textio import BadLine, read_lines

#: Entity label of each field with offsets.
LABELS = {
    "m": "medication",
    "do": "dosage",
    "mo": "mode",
    "f": "frequency",
    "du": "duration",
    "r": "reason",
}
#: Fields without offsets (event, temporal marker, certainty, list/narrative).
PLAIN_FIELDS = ("e", "t", "c", "ln")
SUFFIXES = (".i2b2.entries", ".m")
_SEPARATOR = re.compile(r"\|{2,}")
_FIELD = re.compile(r'^(?P<key>[a-z]+)="(?P<text>.*)"(?P<rest>.*)$')
_PAIR = re.compile(rf"({OFFSET}):({OFFSET})\s+({OFFSET}):({OFFSET})")


def _parse_offsets(rest: str, path: Path, number: int, key: str, summary_repairs: List[str]):
    """Offset pairs of one field; a space instead of a comma between pairs is a repair."""
    pairs = []
    pos = 0
    for m in _PAIR.finditer(rest):
        gap = rest[pos : m.start()]
        if pairs:
            if gap.strip() == "":
                if gap:
                    summary_repairs.append("offset pairs separated by a space")
                else:
                    raise ConversionError(path, number, f"malformed offsets in field {key!r}")
            elif gap.strip() != ",":
                raise ConversionError(path, number, f"malformed offsets in field {key!r}")
        elif gap.strip():
            raise ConversionError(path, number, f"malformed offsets in field {key!r}")
        begin = parse_position(path, number, m.group(1), m.group(2))
        pairs.append((begin, parse_position(path, number, m.group(3), m.group(4))))
        pos = m.end()
    if rest[pos:].strip():
        raise ConversionError(path, number, f"malformed offsets in field {key!r}")
    return pairs


def _check_text(
    path: Path, number: int, key: str, text: str, spans, note: Note, show_text: bool
) -> None:
    """Check a field's text against its tokens, piece by piece where the pieces line up.

    The texts of a discontinuous field are joined by ``...``; when their number differs from
    the number of offset pairs (or a token itself holds ``...``), the whole text is compared
    with all the tokens, with and without the ``...`` separators.
    """
    pieces = text.split("...")
    if len(pieces) == len(spans) and all(
        text_matches(note.words(*span), piece) for span, piece in zip(spans, pieces)
    ):
        return
    words = [w for span in spans for w in note.words(*span)]
    if not (text_matches(words, text) or text_matches(words, "".join(pieces))):
        raise mismatch_error(path, number, f"field {key!r}", text, words, show_text)


def parse_entry(
    path: Path, number: int, line: str, note: Note, summary: ConversionSummary, show_text: bool
) -> List[Entity]:
    """The entities of one medication entry; raises :class:`ConversionError` on any defect.

    Counts (repairs, ``nm`` fields, discontinuous pieces) reach the summary only when the
    whole entry is good, so a skipped entry leaves no partial trace.
    """
    repairs: List[str] = []
    raw_fields = _SEPARATOR.split(line.strip())
    repairs += ["stray |||"] * sum(1 for s in _SEPARATOR.findall(line) if len(s) > 2)
    seen = set()
    entities: List[Entity] = []
    not_mentioned = pieces = discontinuous = 0
    for raw in raw_fields:
        if not raw.strip():  # a leading or trailing || (or || ||)
            repairs.append("empty field")
            continue
        m = _FIELD.match(raw.strip())
        if m is None:
            message = 'malformed medication field (expected key="text" offsets)'
            raise ConversionError(path, number, message + (f": {raw!r}" if show_text else ""))
        key, text, rest = m.group("key"), m.group("text"), m.group("rest")
        if key not in LABELS and key not in PLAIN_FIELDS:
            raise ConversionError(path, number, f"unknown field {key!r}")
        if key in seen:
            raise ConversionError(path, number, f"field {key!r} given twice")
        seen.add(key)
        if key in PLAIN_FIELDS:
            if rest.strip():
                raise ConversionError(path, number, f"field {key!r} cannot have offsets")
            continue
        if text == "nm" and not rest.strip():
            not_mentioned += 1
            continue
        pairs = _parse_offsets(rest, path, number, key, repairs)
        if not pairs:
            raise ConversionError(path, number, f"field {key!r} has text but no offsets")
        spans = [note.locate(path, number, begin, end) for begin, end in pairs]
        _check_text(path, number, key, text, spans, note, show_text)
        if len(spans) > 1:
            discontinuous += 1
            pieces += len(spans)
        entities.extend((start, end, LABELS[key]) for start, end in spans)
    if "m" not in seen:
        raise ConversionError(path, number, "entry without a medication (m) field")
    for reason in repairs:
        summary.repair(reason)
    summary.note("medication entries")
    summary.note("fields not mentioned (nm)", not_mentioned)
    summary.note("discontinuous fields", discontinuous)
    summary.discontinuous_pieces += pieces
    return entities


def read_entries(
    path: Path, note: Note, summary: ConversionSummary, lenient: bool, show_text: bool
) -> List[Entity]:
    """The entities of all entries of one annotation file, in file order."""
    entities: List[Entity] = []
    for number, line in enumerate(read_lines(path, summary), start=1):
        if isinstance(line, str) and not line.strip():
            continue
        try:
            if isinstance(line, BadLine):
                raise line.error
            entities.extend(parse_entry(path, number, line, note, summary, show_text))
        except ConversionError as err:
            summary.skip_or_raise(err, lenient=lenient, what="medication entries")
    return entities


def convert_i2b2_2009(
    input_path: Union[str, Path],
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    progress: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Docs from i2b2 2009 medication annotations and their summary (complete once consumed).

    ``input_path`` is a folder holding notes and ``.m`` / ``.i2b2.entries`` files (together or
    in ``txt/`` and annotation subfolders) or one annotation file. One Doc per line (lines
    joined where a field crosses them), or with ``doc_per_document`` one per note.
    """
    summary = ConversionSummary(format="i2b2-2009")
    docs = convert_note_pairs(
        input_path, SUFFIXES, read_entries, summary, doc_per_document=doc_per_document,
        lenient=lenient, show_text=show_text, progress=progress, vocab=vocab,
    )
    return docs, summary
