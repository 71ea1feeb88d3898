"""A conversion from input files to output files: the format's converter, checks, writing.

What ``python -m spacy_dtn convert`` does, importable: :func:`convert` reads a corpus in one of
the :class:`Format` s, writes its DocBin (and the summary as JSON) all at once or not at all,
and raises :class:`~spacy_dtn.convert.errors.ConversionError` for every input problem.
"""

from enum import Enum
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from spacy.tokens import Doc

from .conll2003 import convert_conll2003
from .docs import docbin_bytes, refuse_folder, write_files
from .errors import ConversionError
from .i2b2_2009 import convert_i2b2_2009
from .i2b2_2010 import convert_i2b2_2010
from .iob import convert_iob
from .ontonotes import convert_ontonotes
from .summary import ConversionSummary


class Format(str, Enum):
    iob = "iob"
    conll2003 = "conll2003"
    ontonotes = "ontonotes"
    i2b2_2010 = "i2b2-2010"
    i2b2_2009 = "i2b2-2009"


_COLUMN_FORMATS = (Format.iob, Format.conll2003)


def _check_options(fmt: Format, scheme, split, genre, drop_pt) -> None:
    """Refuse options that do not apply to the format, rather than ignore them silently."""
    if scheme is not None and fmt not in _COLUMN_FORMATS:
        raise ValueError("--scheme applies to iob and conll2003 only")
    if (split is not None or genre or drop_pt) and fmt != Format.ontonotes:
        raise ValueError("--split, --genre and --drop-pt apply to ontonotes only")


def refuse_empty(input_path: Path, summary: ConversionSummary) -> None:
    """``--lenient`` that skipped everything has converted nothing: that is an error, not a
    success with 0 Docs (an empty input, with nothing skipped, is not)."""
    if summary.skipped and not summary.docs:
        raise ConversionError(
            input_path,
            None,
            f"nothing converted: all {summary.skipped:,} item(s) were skipped; the first: "
            f"{summary.problems[0]}",
        )


def run_conversion(
    fmt: Format,
    input_path: Path,
    *,
    scheme: Optional[str] = None,
    split: Optional[str] = None,
    genre: Optional[List[str]] = None,
    drop_pt: bool = False,
    doc_per_document: bool = False,
    lenient: bool = False,
    show_text: bool = False,
    progress: bool = False,
) -> Tuple[Iterator[Doc], ConversionSummary]:
    """Dispatch to the converter of ``fmt`` (the CLI's options as keyword arguments)."""
    _check_options(fmt, scheme, split, genre, drop_pt)
    common = dict(doc_per_document=doc_per_document, lenient=lenient, show_text=show_text)
    if fmt in _COLUMN_FORMATS:
        if input_path.is_dir():
            raise ConversionError(
                input_path, None, f"{fmt.value} input must be a file, not a folder"
            )
        if not input_path.exists():
            raise ConversionError(input_path, None, "no such file")
        convert = convert_iob if fmt == Format.iob else convert_conll2003
        return convert(input_path, scheme=scheme, **common)
    if fmt == Format.ontonotes:
        return convert_ontonotes(
            input_path,
            split=split,
            genres=genre or None,
            drop_pt=drop_pt,
            progress=progress,
            **common,
        )
    convert = convert_i2b2_2010 if fmt == Format.i2b2_2010 else convert_i2b2_2009
    return convert(input_path, progress=progress, **common)


def convert(
    fmt: Format,
    input_path: Path,
    output_path: Path,
    *,
    summary_path: Optional[Path] = None,
    **options,
) -> ConversionSummary:
    """Convert ``input_path`` into the DocBin ``output_path`` (and the summary as JSON into
    ``summary_path``); ``options`` are :func:`run_conversion`'s.

    Output paths are checked before any work, and nothing is written unless everything is:
    a conversion that stops on an error leaves no half-written output behind.
    RETURNS: the summary of the conversion.
    """
    for path in (output_path, summary_path):
        if path is not None:
            refuse_folder(path)
    docs, summary = run_conversion(Format(fmt), input_path, **options)
    data, _ = docbin_bytes(docs)
    refuse_empty(input_path, summary)
    outputs = {output_path: data}
    if summary_path is not None:
        outputs[summary_path] = (summary.to_json() + "\n").encode("utf8")
    write_files(outputs)
    return summary
