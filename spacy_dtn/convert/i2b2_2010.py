"""i2b2/VA 2010 concepts: notes ``NAME.txt`` with ``NAME.con``.

Concept types are ``problem``, ``test`` and ``treatment``.

Each ``.con`` line reads ``c="concept text" L:T L:T||t="type"``. The concept text (lower-cased
in the release) is checked against the note's tokens, ignoring case and whitespace. ``.con``
files are unsorted and may repeat a concept: duplicates and overlaps are resolved by
:func:`spacy_dtn.convert.docs.set_entities` and counted.
"""

import re
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from .docs import Entity
from .errors import ConversionError
from .i2b2 import OFFSET, convert_note_pairs, mismatch_error, parse_position, text_matches
from .summary import ConversionSummary
from .textio import BadLine, read_lines

CONCEPT_TYPES = ("problem", "test", "treatment")
SUFFIXES = (".con",)
_CON_LINE = re.compile(
    rf'^c="(?P<text>.*)" (?P<l1>{OFFSET}):(?P<t1>{OFFSET}) (?P<l2>{OFFSET}):(?P<t2>{OFFSET})'
    r'\|\|t="(?P<type>[^"]*)"$'
)


def read_concepts(
    con_path: Path, note, summary: ConversionSummary, lenient: bool, show_text: bool
) -> List[Entity]:
    """The concepts of one ``.con`` file as token offsets into ``note``."""
    entities: List[Entity] = []
    for number, line in enumerate(read_lines(con_path, summary), start=1):
        if isinstance(line, str) and not line.strip():
            continue
        try:
            entities.append(_parse_line(con_path, number, line, note, show_text))
        except ConversionError as err:
            summary.skip_or_raise(err, lenient=lenient, what="concepts")
    return entities


def _parse_line(con_path: Path, number: int, line, note, show_text: bool) -> Entity:
    if isinstance(line, BadLine):
        raise line.error
    m = _CON_LINE.match(line.strip())
    if m is None:
        message = 'malformed concept line (expected c="..." L:T L:T||t="...")'
        raise ConversionError(con_path, number, message + (f": {line!r}" if show_text else ""))
    label = m.group("type")
    if label not in CONCEPT_TYPES:
        raise ConversionError(
            con_path,
            number,
            f"unknown concept type {label!r} (expected {', '.join(CONCEPT_TYPES)})",
        )
    start, end = note.locate(
        con_path,
        number,
        parse_position(con_path, number, m.group("l1"), m.group("t1")),
        parse_position(con_path, number, m.group("l2"), m.group("t2")),
    )
    words = note.words(start, end)
    if not text_matches(words, m.group("text")):
        raise mismatch_error(con_path, number, "concept", m.group("text"), words, show_text)
    return (start, end, label)


def convert_i2b2_2010(
    input_path: Union[str, Path],
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    progress: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Docs from i2b2 2010 concept annotations and their summary (complete once consumed).

    ``input_path`` is a folder (notes and ``.con`` files together, or the release's ``txt/``
    and ``concept/`` subfolders) or one ``.con`` file. One Doc per line (lines joined where a
    concept crosses them), or with ``doc_per_document`` one per note with sentence starts set.
    """
    summary = ConversionSummary(format="i2b2-2010")
    docs = convert_note_pairs(
        input_path, SUFFIXES, read_concepts, summary, doc_per_document=doc_per_document,
        lenient=lenient, show_text=show_text, progress=progress, vocab=vocab,
    )
    return docs, summary
