"""The shared reader of column formats: one token per line, a blank line between sentences.

IOB tables (``token<TAB>tag``) and CoNLL-2003 (``token POS chunk NER``) differ only in their
columns, so both converters are thin layers over :func:`convert_columns`. ``-DOCSTART-`` lines
separate documents in either format; one that interrupts a sentence (no blank line before it)
ends that sentence, counted as repaired.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

from spacy.tokens import Doc
from spacy.training import biluo_tags_to_spans
from spacy.vocab import Vocab

from .docs import make_doc, set_entities
from .errors import ConversionError
from .summary import ConversionSummary
from .tags import detect_scheme, find_tag_error, normalise_scheme, to_biluo
from .textio import BadLine, read_lines

DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    """The rows of one input sentence; ``error`` is its first bad line, if any."""

    document: int
    lines: List[int] = field(default_factory=list)
    rows: List[List[str]] = field(default_factory=list)
    error: Optional[ConversionError] = None


def _split(line: str, tab_separated: bool) -> List[str]:
    if tab_separated and "\t" in line:
        return line.split("\t")
    return line.split()


def _malformed(fields: List[str], n_columns: int, more_columns: bool, tab_separated: bool) -> str:
    """Why a line's columns are wrong, or ``""`` when they are right."""
    if len(fields) == n_columns or (more_columns and len(fields) > n_columns):
        return "" if all(fields) else "malformed line: empty column"
    sep = "tab-separated" if tab_separated else "space-separated"
    expected = f"{n_columns} or more" if more_columns else str(n_columns)
    return f"malformed line: expected {expected} {sep} columns, found {len(fields)}"


def read_sentences(
    path: Union[str, Path],
    n_columns: int,
    tab_separated: bool,
    summary: ConversionSummary,
    show_text: bool = False,
    more_columns: bool = False,
) -> List[Sentence]:
    """Group the lines of ``path`` into sentences; bad lines are attached, not raised.

    With ``more_columns``, lines may have more than ``n_columns`` columns (the caller reads
    the tag from the last one).
    """
    sentences: List[Sentence] = []
    document = 0
    current: Optional[Sentence] = None
    for number, line in enumerate(read_lines(path, summary), start=1):
        if isinstance(line, BadLine):
            if current is None:
                current = Sentence(document)
                sentences.append(current)
            current.lines.append(number)
            current.rows.append([])
            current.error = current.error or line.error
            continue
        if not line.strip():
            current = None
            continue
        fields = _split(line, tab_separated)
        if fields[0] == DOCSTART:
            if current is not None:
                summary.repair("-DOCSTART- inside a sentence (sentence ended there)")
            document += 1
            current = None
            continue
        if current is None:
            current = Sentence(document)
            sentences.append(current)
        current.lines.append(number)
        current.rows.append(fields)
        message = _malformed(fields, n_columns, more_columns, tab_separated)
        if current.error is None and message:
            if show_text:
                message += f": {line!r}"
            current.error = ConversionError(path, number, message)
    return sentences


def convert_columns(
    paths: Sequence[Union[str, Path]],
    summary: ConversionSummary,
    *,
    n_columns: int,
    tag_column: int,
    pos_column: Optional[int] = None,
    tab_separated: bool = False,
    more_columns: bool = False,
    scheme: Optional[str] = None,
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    vocab: Optional[Vocab] = None,
) -> Iterator[Doc]:
    """Yield the Docs of column files ``paths``, counting everything in ``summary``.

    The tag scheme is detected per file unless ``scheme`` is given. A sentence with a bad line
    or an invalid tag sequence raises :class:`ConversionError` (or, ``lenient``, is skipped and
    counted). ``tag_column`` may be negative (``-1``: the last column, with ``more_columns``).
    """
    vocab = vocab or Vocab()
    scheme = normalise_scheme(scheme)
    schemes_seen: List[str] = []
    for path in paths:
        sentences = read_sentences(
            path, n_columns, tab_separated, summary, show_text, more_columns
        )
        summary.files_read += 1
        file_scheme = scheme or detect_scheme(
            [row[tag_column] for row in s.rows] for s in sentences if s.error is None
        )
        if file_scheme not in schemes_seen:
            schemes_seen.append(file_scheme)
            summary.scheme = "+".join(schemes_seen)
        pending: List[Sentence] = []
        pending_tags: List[List[str]] = []
        pending_doc: Optional[int] = None
        for sent in sentences:
            error = sent.error
            if error is None:
                tags = [row[tag_column] for row in sent.rows]
                problem = find_tag_error(tags, file_scheme)
                if problem is not None:
                    error = ConversionError(path, sent.lines[problem[0]], problem[1])
            if error is not None:
                summary.skip_or_raise(error, lenient=lenient, what="sentences")
                continue
            biluo = to_biluo(tags, file_scheme)
            if not doc_per_document:
                yield _finish(
                    vocab,
                    [sent],
                    [biluo],
                    pos_column,
                    summary,
                    new_document=sent.document != pending_doc,
                )
                pending_doc = sent.document
                continue
            if pending and sent.document != pending_doc:
                yield _finish(vocab, pending, pending_tags, pos_column, summary, new_document=True)
                pending, pending_tags = [], []
            pending.append(sent)
            pending_tags.append(biluo)
            pending_doc = sent.document
        if pending:
            yield _finish(vocab, pending, pending_tags, pos_column, summary, new_document=True)


def _finish(
    vocab: Vocab,
    sentences: List[Sentence],
    biluo: List[List[str]],
    pos_column: Optional[int],
    summary: ConversionSummary,
    new_document: bool,
) -> Doc:
    words = [[row[0] for row in s.rows] for s in sentences]
    pos = (
        [[row[pos_column] for row in s.rows] for s in sentences] if pos_column is not None else None
    )
    doc = make_doc(vocab, words, pos)
    flat = [t for tags in biluo for t in tags]
    spans = biluo_tags_to_spans(doc, flat)
    set_entities(doc, ((s.start, s.end, s.label_) for s in spans), summary)
    summary.sentences += len(sentences)
    if new_document:
        summary.documents += 1
    summary.add_doc(doc)
    return doc
