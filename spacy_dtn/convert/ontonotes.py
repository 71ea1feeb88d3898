"""OntoNotes 5.0 in the CoNLL-2012 format (``*.gold_conll``): a release tree, archive or file.

Each file holds parts between ``#begin document (<id>); part NNN`` and ``#end document``;
sentences are separated by blank lines; columns by runs of spaces: word (index 3), POS
(index 4, kept as ``token.tag_``) and named entities (index 10) in bracket notation, where
``(ORG*`` opens, ``*`` continues, ``*)`` closes and ``(CARDINAL)`` is a one-token entity.

Input may be the tree (or any folder inside it), a single file, or the ``.tar.xz`` archive read
directly. Files are always converted in the order of their sorted paths, so the tree and the
archive give the same Docs in the same order (and the same seeded subsample). A folder or
archive holding several splits needs ``split``. The ``pt/`` genre (the Bible) has no entity
annotation at all: its Docs are written with the entity annotation marked *missing* (not
``O``), and ``drop_pt`` leaves it out.
"""

import lzma
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab
from tqdm import tqdm

from .docs import Entity, make_doc, set_entities
from .errors import ConversionError
from .summary import ConversionSummary
from .textio import BadLine, decode_lines, read_bytes

SPLITS = ("train", "development", "test")
NO_NE_GENRES = ("pt",)
SUFFIX = ".gold_conll"
_BEGIN = re.compile(r"^#begin document \((?P<id>[^)]*)\);\s*part\s+(?P<part>\d+)")
_NE_FIELD = re.compile(r"((?:\([^()*\s]+)*)(\*?)(\)*)")
_NE_OPEN = re.compile(r"\(([^()*\s]+)")
_ARCHIVE_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2")
#: What ``tarfile`` and its decompressors raise on a damaged, truncated or empty archive
#: (``EOFError`` reaches typer as a bare "Aborted.", so it must not escape either).
_ARCHIVE_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError)


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_ARCHIVE_SUFFIXES)


def _split_of(parts: Sequence[str]) -> Optional[str]:
    found = [p for p in parts if p in SPLITS]
    return found[-1] if found else None


def _genre_of(parts: Sequence[str]) -> Optional[str]:
    if "annotations" in parts:
        i = len(parts) - 1 - list(reversed(parts)).index("annotations")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return None


def _select(
    names: List[str],
    where: str,
    split: Optional[str],
    genres: Optional[Sequence[str]],
    drop_pt: bool,
    summary: ConversionSummary,
) -> List[str]:
    """Keep the file names of the chosen split and genres (relative POSIX paths)."""
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        names = [n for n in names if _split_of(PurePosixPath(n).parts) == split]
        if not names:
            raise ConversionError(where, None, f"no {SUFFIX} files of split {split!r} found")
    else:
        splits = sorted({s for s in (_split_of(PurePosixPath(n).parts) for n in names) if s})
        if len(splits) > 1:
            raise ConversionError(
                where, None, f"holds several splits ({', '.join(splits)}); choose one with --split"
            )
    kept = []
    for name in names:
        genre = _genre_of(PurePosixPath(name).parts)
        if genre is not None and not _genre_wanted(genre, genres, drop_pt):
            summary.note(f"files not selected (genre {genre})")
            continue
        kept.append(name)
    if names and not kept:
        raise ConversionError(where, None, "no files left after the genre selection")
    return kept


def _genre_wanted(genre: str, genres: Optional[Sequence[str]], drop_pt: bool) -> bool:
    if drop_pt and genre in NO_NE_GENRES:
        return False
    return not genres or genre in genres


def iter_files(
    input_path: Union[str, Path],
    split: Optional[str],
    genres: Optional[Sequence[str]],
    drop_pt: bool,
    summary: ConversionSummary,
    progress: bool = False,
) -> Iterator[Tuple[str, bytes]]:
    """``(display path, raw bytes)`` of every selected ``.gold_conll`` file, in sorted order."""
    path = Path(input_path)
    if not path.exists():
        raise ConversionError(path, None, "no such file or folder")
    if is_archive(path):
        if split is None:
            raise ConversionError(
                path, None, "reading an archive needs --split (train, development or test)"
            )
        stored = read_archive(path, split, progress)
        names = _select(sorted(stored), str(path), split, genres, drop_pt, summary)
        for name in tqdm(names, desc="converting", unit=" files", disable=not progress):
            yield f"{path}::{name}", zlib.decompress(stored.pop(name))
    elif path.is_dir():
        names = sorted(
            p.relative_to(path).as_posix() for p in path.rglob(f"*{SUFFIX}") if p.is_file()
        )
        if not names:
            raise ConversionError(path, None, f"no {SUFFIX} files found")
        names = _select(names, str(path), split, genres, drop_pt, summary)
        for name in tqdm(names, desc="converting", unit=" files", disable=not progress):
            file_path = path / name
            try:
                yield str(file_path), file_path.read_bytes()
            except OSError as err:
                raise ConversionError(
                    file_path, None, f"cannot read file ({err.strerror or err})"
                ) from None
    else:
        yield str(path), read_bytes(path)


def read_archive(path: Path, split: str, progress: bool = False) -> Dict[str, bytes]:
    """The ``.gold_conll`` members of ``split`` in the archive, each zlib-compressed.

    An archive is not in sorted order and cannot be read out of order cheaply: the selected
    members are kept compressed in memory, to be converted sorted. This is the one place an
    archive is read, so any damage becomes one :class:`ConversionError` naming the archive.
    """
    stored = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tqdm(
                tar, desc="reading archive", unit=" files", disable=not progress, leave=False
            )
            for member in members:
                if (
                    member.isfile()
                    and member.name.endswith(SUFFIX)
                    and _split_of(PurePosixPath(member.name).parts) == split
                ):
                    stored[member.name] = zlib.compress(tar.extractfile(member).read(), 1)
            # Read on to the end of the compressed stream: gzip checks its CRC only there,
            # and a damaged member must not pass as text.
            while tar.fileobj.read(1 << 20):
                pass
    except _ARCHIVE_ERRORS as err:
        why = " ".join(str(err).split()) or type(err).__name__
        raise ConversionError(
            path, None, f"damaged or truncated archive ({type(err).__name__}: {why})"
        ) from None
    return stored


class _Part:
    """One ``#begin document`` … ``#end document`` part being read."""

    def __init__(self, doc_id: str, line: int) -> None:
        self.doc_id = doc_id
        self.line = line
        self.genre = doc_id.split("/", 1)[0] if "/" in doc_id else ""
        self.sentences: List[List[str]] = []
        self.tags: List[List[str]] = []
        self.entities: List[List[Entity]] = []


def _parse_entities(
    fields: List[str], lines: List[int], path: str, show_text: bool
) -> List[Entity]:
    """The entities of one sentence from its named-entity column (bracket notation)."""
    entities: List[Entity] = []
    stack: List[Tuple[str, int]] = []
    for i, (field, line) in enumerate(zip(fields, lines)):
        if field == "*":
            continue
        m = _NE_FIELD.fullmatch(field)
        opens = _NE_OPEN.findall(m.group(1)) if m else []
        closes = len(m.group(3)) if m else 0
        if m is None or (not m.group(2) and not (opens and closes)):
            message = "malformed named-entity field (column 11)"
            raise ConversionError(path, line, message + (f": {field!r}" if show_text else ""))
        for label in opens:
            stack.append((label, i))
        for _ in range(closes):
            if not stack:
                raise ConversionError(
                    path, line, "named entity closed but never opened (column 11)"
                )
            label, start = stack.pop()
            entities.append((start, i + 1, label))
    if stack:
        label, start = stack[-1]
        raise ConversionError(path, lines[start], f"named entity {label} opened but never closed")
    return entities


def parse_file(
    path: str,
    data: bytes,
    summary: ConversionSummary,
    lenient: bool = False,
    show_text: bool = False,
) -> Iterator[_Part]:
    """Yield the parts of one file; bad sentences raise or (``lenient``) are skipped."""
    part: Optional[_Part] = None
    rows: List[List[str]] = []
    lines: List[int] = []
    error: Optional[ConversionError] = None

    def end_sentence() -> None:
        nonlocal rows, lines, error
        if rows or error:
            err = error
            entities: List[Entity] = []
            if err is None:
                try:
                    entities = _parse_entities([r[10] for r in rows], lines, path, show_text)
                except ConversionError as e:
                    err = e
            if err is not None:
                summary.skip_or_raise(err, lenient=lenient, what="sentences")
            else:
                assert part is not None
                part.sentences.append([r[3] for r in rows])
                part.tags.append([r[4] for r in rows])
                part.entities.append(entities)
        rows, lines, error = [], [], None

    for number, line in enumerate(decode_lines(data, path, summary), start=1):
        if isinstance(line, BadLine):
            error = error or line.error
            continue
        if line.startswith("#begin document"):
            m = _BEGIN.match(line)
            if m is None or part is not None:
                why = (
                    "malformed #begin document line"
                    if m is None
                    else "#begin document before #end document"
                )
                summary.skip_or_raise(
                    ConversionError(path, number, why),
                    lenient=lenient,
                    what="document markers",
                )
                if part is not None:
                    end_sentence()
                    yield part
                    part = None
                if m is None:
                    continue
            end_sentence()  # stray token lines before the first part
            part = _Part(m.group("id"), number)
            continue
        if line.startswith("#end document"):
            end_sentence()
            if part is None:
                summary.skip_or_raise(
                    ConversionError(path, number, "#end document without #begin document"),
                    lenient=lenient,
                    what="document markers",
                )
            else:
                yield part
                part = None
            continue
        if line.startswith("#"):
            continue
        if not line.strip():
            end_sentence()
            continue
        fields = line.split()
        if part is None:
            error = error or ConversionError(
                path, number, "token line outside #begin document ... #end document"
            )
        elif len(fields) < 11 and error is None:
            error = ConversionError(
                path, number, f"malformed line: expected at least 11 columns, found {len(fields)}"
            )
        rows.append(fields)
        lines.append(number)
    end_sentence()
    if part is not None:
        summary.skip_or_raise(
            ConversionError(path, part.line, "#begin document without #end document"),
            lenient=lenient,
            what="document markers",
        )
        yield part


def convert_ontonotes(
    input_path: Union[str, Path],
    split: Optional[str] = None,
    genres: Optional[Sequence[str]] = None,
    drop_pt: bool = False,
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    progress: bool = False,
    vocab: Optional[Vocab] = None,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Docs from OntoNotes ``.gold_conll`` files and their summary (complete once consumed).

    One Doc per sentence, or with ``doc_per_document`` one per part (``#begin document``).
    ``genres`` keeps only those genres (``bc``, ``bn``, ``mz``, ``nw``, ``pt``, ``tc``, ``wb``);
    ``drop_pt`` leaves out ``pt/``. The summary counts files read, parts (``documents``),
    sentences per genre and entities per type.
    """
    summary = ConversionSummary(format="ontonotes")
    vocab = vocab or Vocab()

    def generate() -> Iterator[Doc]:
        for path, data in iter_files(input_path, split, genres, drop_pt, summary, progress):
            summary.files_read += 1
            for part in parse_file(path, data, summary, lenient, show_text):
                if not _genre_wanted(part.genre, genres, drop_pt):
                    summary.note(f"parts not selected (genre {part.genre})")
                    continue
                if not part.sentences:
                    summary.note("empty parts")
                    continue
                summary.documents += 1
                missing = part.genre in NO_NE_GENRES
                summary.group("sentences per genre", part.genre or "?", len(part.sentences))
                if doc_per_document:
                    chunks = [(part.sentences, part.tags, part.entities)]
                else:
                    chunks = [
                        ([s], [t], [e]) for s, t, e in zip(part.sentences, part.tags, part.entities)
                    ]
                for sentences, tags, entities in chunks:
                    doc = make_doc(vocab, sentences, tags)
                    offset = 0
                    flat: List[Entity] = []
                    for sent, ents in zip(sentences, entities):
                        flat.extend((s + offset, e + offset, label) for s, e, label in ents)
                        offset += len(sent)
                    set_entities(doc, flat, summary, missing=missing)
                    summary.sentences += len(sentences)
                    summary.add_doc(doc)
                    yield doc

    return generate(), summary
