"""What the two i2b2 converters share: finding note/annotation pairs, reading notes, offsets.

An i2b2 note has one sentence per line and tokens split on whitespace; annotations point at
tokens as ``line:token`` (lines from 1, tokens from 0, end inclusive). A concept that crosses a
line break joins those lines into one Doc (counted as ``merged``), so that no entity is cut.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab
from tqdm import tqdm

from .docs import Entity, make_doc, set_entities
from .errors import ConversionError
from .summary import ConversionSummary
from .textio import BadLine, read_lines

#: Folders of the releases that hold the notes beside the annotation folders.
NOTE_FOLDERS = ("txt", "text", "texts", "notes")
#: An offset number in an annotation line (ASCII digits: ``\\d`` also matches other scripts').
OFFSET = "[0-9]+"
#: More digits than any note has lines or tokens. Longer numbers are refused before ``int()``,
#: which has a digit limit of its own (and a 4,300-digit offset is damage, not a position).
MAX_OFFSET_DIGITS = 9


def parse_position(
    ann_path: Union[str, Path], ann_line: int, line: str, token: str
) -> Tuple[int, int]:
    """``("12", "3")`` → ``(12, 3)``: the one place offset numbers of both formats are read."""
    for digits in (line, token):
        if len(digits) > MAX_OFFSET_DIGITS:
            raise ConversionError(
                ann_path, ann_line, f"offset number of {len(digits):,} digits is out of range"
            )
    return int(line), int(token)


@dataclass
class Note:
    """The tokens of one note, line by line (``lines[0]`` is line 1)."""

    path: str
    lines: List[List[str]]
    starts: List[int]
    tokens: List[str]

    def locate(
        self,
        ann_path: Union[str, Path],
        ann_line: int,
        begin: Tuple[int, int],
        end: Tuple[int, int],
    ) -> Tuple[int, int]:
        """Token offsets ``(start, end_exclusive)`` in the note for ``L:T L:T`` (end inclusive)."""
        for line, token in (begin, end):
            if line < 1:
                raise ConversionError(
                    ann_path,
                    ann_line,
                    f"offset {line}:{token} is before the start of the note (lines count from 1)",
                )
            if line > len(self.lines):
                raise ConversionError(
                    ann_path,
                    ann_line,
                    f"offset {line}:{token} is past the end of the note ({len(self.lines)} lines)",
                )
            if token >= len(self.lines[line - 1]):
                raise ConversionError(
                    ann_path,
                    ann_line,
                    f"offset {line}:{token} is past the end of line {line} "
                    f"({len(self.lines[line - 1])} tokens)",
                )
        if end < begin:
            raise ConversionError(
                ann_path,
                ann_line,
                f"span {begin[0]}:{begin[1]} {end[0]}:{end[1]} ends before it starts",
            )
        return self.starts[begin[0] - 1] + begin[1], self.starts[end[0] - 1] + end[1] + 1

    def words(self, start: int, end: int) -> List[str]:
        return self.tokens[start:end]


def read_note(path: Path, summary: ConversionSummary) -> Note:
    """Read a note; a line that is not UTF-8 raises (a note with a bad line is not converted)."""
    lines: List[List[str]] = []
    starts: List[int] = []
    n = 0
    for line in read_lines(path, summary):
        if isinstance(line, BadLine):
            raise line.error
        tokens = line.split()
        lines.append(tokens)
        starts.append(n)
        n += len(tokens)
    return Note(str(path), lines, starts, [w for line in lines for w in line])


def text_matches(note_words: Sequence[str], text: str) -> bool:
    """Compare annotation text (lower-cased) with note tokens, ignoring case and whitespace."""
    return "".join(note_words).lower() == "".join(text.split()).lower()


def mismatch_error(
    ann_path: Union[str, Path],
    ann_line: int,
    what: str,
    text: str,
    words: Sequence[str],
    show_text: bool,
) -> ConversionError:
    message = f"{what} text does not match the note tokens at its offsets"
    if show_text:
        message += f": {text!r} vs {' '.join(words)!r}"
    return ConversionError(ann_path, ann_line, message)


def _stem(path: Path, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def find_pairs(
    input_path: Union[str, Path],
    suffixes: Sequence[str],
    summary: ConversionSummary,
    lenient: bool = False,
) -> List[Tuple[Path, Path]]:
    """``(annotation file, note)`` pairs under ``input_path`` (a folder or one annotation file).

    The note ``NAME.txt`` (or ``NAME`` without extension) is looked for beside the annotation
    file, then in a ``txt/`` folder next to its folder (the release layout), then anywhere
    under ``input_path``. An annotation file without its note raises (``lenient``: is skipped
    and counted); notes without annotation file are counted in the summary, not converted.
    """
    root = Path(input_path)
    if not root.exists():
        raise ConversionError(root, None, "no such file or folder")
    if root.is_file():
        ann_files = [root]
        notes_by_stem: Dict[str, List[Path]] = {}
    else:
        ann_files = sorted(
            p for p in root.rglob("*") if p.is_file() and p.name.endswith(tuple(suffixes))
        )
        if not ann_files:
            raise ConversionError(root, None, f"no annotation files ({', '.join(suffixes)}) found")
        notes_by_stem = {}
        for p in sorted(root.rglob("*.txt")):
            notes_by_stem.setdefault(p.stem, []).append(p)
    pairs = []
    used = set()
    for ann in ann_files:
        stem = _stem(ann, suffixes)
        candidates = [ann.parent / f"{stem}.txt", ann.parent / stem]
        candidates += [ann.parent.parent / folder / f"{stem}.txt" for folder in NOTE_FOLDERS]
        note = next((c for c in candidates if c.is_file() and c != ann), None)
        if note is None and len(notes_by_stem.get(stem, [])) == 1:
            note = notes_by_stem[stem][0]
        if note is None:
            error = ConversionError(
                ann, None, f"no note text {stem}.txt found for this annotation file"
            )
            summary.skip_or_raise(error, lenient=lenient, what="annotation files")
            continue
        used.add(note.resolve())
        pairs.append((ann, note))
    unannotated = sum(1 for ps in notes_by_stem.values() for p in ps if p.resolve() not in used)
    if unannotated:
        summary.note("notes without annotation file (not converted)", unannotated)
    return pairs


def note_docs(
    vocab: Vocab,
    note: Note,
    entities: List[Entity],
    doc_per_document: bool,
    summary: ConversionSummary,
) -> List[Doc]:
    """The Docs of one note: one per line, or one for the whole note.

    In the one-per-line case, lines are joined where a kept entity crosses them.
    """
    nonempty = [line for line in note.lines if line]
    summary.documents += 1
    summary.note("empty lines (no Doc)", len(note.lines) - len(nonempty))
    if not nonempty:
        summary.note("empty notes")
        return []
    doc = make_doc(vocab, nonempty)
    kept = set_entities(doc, entities, summary)
    summary.sentences += len(nonempty)
    if doc_per_document:
        docs = [doc]
    else:
        # Cut the note at every line start that no kept entity crosses.
        groups: List[List[List[str]]] = []
        starts: List[int] = []
        position = 0
        for line in nonempty:
            if groups and any(span.start < position < span.end for span in kept):
                groups[-1].append(line)
                summary.merged += 1
            else:
                groups.append([line])
                starts.append(position)
            position += len(line)
        docs = []
        for start, lines in zip(starts, groups):
            sub = make_doc(vocab, lines)
            end = start + len(sub)
            inner = [
                (s.start - start, s.end - start, s.label_)
                for s in kept
                if start <= s.start and s.end <= end
            ]
            set_entities(sub, inner, summary)
            docs.append(sub)
    for d in docs:
        summary.add_doc(d)
    return docs


def iter_note_pairs(
    input_path: Union[str, Path],
    suffixes: Sequence[str],
    summary: ConversionSummary,
    progress: bool,
    lenient: bool = False,
) -> Iterator[Tuple[Path, Path]]:
    """:func:`find_pairs`, with a progress bar on stderr."""
    pairs = find_pairs(input_path, suffixes, summary, lenient)
    return iter(tqdm(pairs, desc="converting", unit=" notes", disable=not progress))


def convert_note_pairs(
    input_path: Union[str, Path],
    suffixes: Sequence[str],
    read_annotations,
    summary: ConversionSummary,
    *,
    doc_per_document: bool,
    lenient: bool,
    show_text: bool,
    progress: bool,
    vocab: Optional[Vocab],
) -> Iterator[Doc]:
    """The loop both i2b2 formats share: pair each note with its annotation file, read
    both, build the Docs. ``read_annotations(path, note, summary, lenient, show_text)`` is
    the format's own part and returns the note's entities."""
    vocab = vocab or Vocab()
    for ann_path, note_path in iter_note_pairs(input_path, suffixes, summary, progress, lenient):
        try:
            note = read_note(note_path, summary)
        except ConversionError as err:
            summary.files_read += 1
            summary.skip_or_raise(err, lenient=lenient, what="notes")
            continue
        summary.files_read += 2
        entities = read_annotations(ann_path, note, summary, lenient, show_text)
        yield from note_docs(vocab, note, entities, doc_per_document, summary)
