"""Building Docs from tokens and entity offsets, shared by all converters.

One place decides how whitespace, sentence starts and conflicting entities are handled, so
that every format behaves the same: tokens are joined by single spaces (the input formats keep
no original spacing), every sentence start is set (``token.is_sent_start``), and of duplicate
or overlapping entities one is kept and the rest are counted in the summary.
"""

import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, DocBin, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ..subsample import subsample
from .errors import ConversionError
from .summary import ConversionSummary

#: ``(start, end, label)``: token offsets, end exclusive.
Entity = Tuple[int, int, str]


def make_doc(
    vocab: Vocab,
    sentences: Sequence[Sequence[str]],
    tags: Optional[Sequence[Sequence[str]]] = None,
) -> Doc:
    """A Doc holding ``sentences`` (lists of words) in order, each one's start marked."""
    words: List[str] = []
    sent_starts: List[bool] = []
    for sent in sentences:
        words.extend(sent)
        sent_starts.extend([True] + [False] * (len(sent) - 1))
    spaces = [True] * len(words)
    if spaces:
        spaces[-1] = False
    flat_tags = [t for sent in tags for t in sent] if tags is not None else None
    return Doc(vocab, words=words, spaces=spaces, tags=flat_tags, sent_starts=sent_starts)


def set_entities(
    doc: Doc,
    entities: Iterable[Entity],
    summary: ConversionSummary,
    missing: bool = False,
) -> List[Span]:
    """Write ``entities`` into ``doc.ents`` and return the spans kept.

    An entity identical to an earlier one (same tokens, same label) is dropped as a duplicate.
    Of entities that share tokens, spaCy's ``filter_spans`` keeps the longest, and among
    equally long ones the one that starts first (then the one given first); the others are
    dropped as overlaps. Both counts go to the summary. With ``missing``, tokens outside the
    entities are marked as unannotated rather than as ``O`` (for input that has no entity
    annotation at all).
    """
    seen = set()
    spans = []
    for start, end, label in entities:
        key = (start, end, label)
        if key in seen:
            summary.dropped_duplicate += 1
            continue
        seen.add(key)
        spans.append(Span(doc, start, end, label=label))
    kept = filter_spans(spans)
    summary.dropped_overlap += len(spans) - len(kept)
    doc.set_ents(kept, default="missing" if missing else "outside")
    return kept


def docbin_bytes(docs: Iterable[Doc]) -> Tuple[bytes, int]:
    """The ``.spacy`` file content of ``docs`` (built in memory) and how many Docs it holds."""
    db = DocBin(store_user_data=False)
    n = 0
    for doc in docs:
        db.add(doc)
        n += 1
    return db.to_bytes(), n


def refuse_folder(path: Union[str, Path]) -> None:
    """An output path that is a folder is a mistake to report before any work is done."""
    if Path(path).is_dir():
        raise ConversionError(path, None, "is a folder; give the path of a file to write")


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask (0o644 under umask
    022). ``mkstemp`` creates 0o600 files, private to their owner, which a corpus is not."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_files(files: Dict[Path, bytes]) -> None:
    """Write all of ``files`` (creating their folders) or, on any error, none of them.

    Each is written to a temporary file beside it, and all are renamed into place only once
    every one was written, so an error (a folder in the way, a full disk) leaves no output.
    """
    temps: List[Tuple[str, Path]] = []
    mode = new_file_mode()
    try:
        for path, data in files.items():
            refuse_folder(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temps.append((temp, path))
            os.chmod(temp, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for temp, path in temps:
            os.replace(temp, path)
    except OSError as err:
        raise ConversionError(path, None, f"cannot write file ({err.strerror or err})") from None
    finally:
        for temp, _ in temps:
            if os.path.exists(temp):
                os.unlink(temp)


def write_docbin(docs: Iterable[Doc], path) -> int:
    """Write ``docs`` to a ``.spacy`` file (creating its folder); return how many were written.

    The DocBin is built in memory and written only at the end, so a conversion that stops on
    an error leaves no half-written output behind.
    """
    data, n = docbin_bytes(docs)
    write_files({Path(path): data})
    return n


def subsample_docbin(
    input_path: Union[str, Path], output_path: Union[str, Path], fraction: float, seed: int
) -> Tuple[int, int]:
    """Keep a seeded fraction of the Docs of a DocBin file and write them to another.

    The selection is :func:`spacy_dtn.subsample.subsample` (the same Docs for the same seed
    anywhere). RETURNS: the number of Docs kept and the number read.
    """
    input_path = Path(input_path)
    if not input_path.is_file():
        raise ConversionError(input_path, None, "no such file")
    try:
        db = DocBin().from_disk(input_path)
    except Exception as err:  # srsly/msgpack/zlib raise many types on a file that is not a DocBin
        raise ConversionError(
            input_path, None, f"not a readable DocBin ({type(err).__name__})"
        ) from None
    docs = list(db.get_docs(Vocab()))
    kept = subsample(docs, fraction, seed)
    write_docbin(kept, output_path)
    return len(kept), len(docs)
