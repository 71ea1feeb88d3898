"""``python -m spacy_dtn convert`` and ``python -m spacy_dtn subsample``.

Both commands turn every input problem into one ``✘ file:line: message`` line and exit code 1,
never a traceback: users should see what is wrong with their corpus, not with our code.
"""

from enum import Enum
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from wasabi import Printer, color

from ..subsample import subsample
from .conll2003 import convert_conll2003
from .docs import docbin_bytes, refuse_folder, write_docbin, write_files
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
msg = Printer()


def fail(text: str) -> None:
    """``msg.fail`` on one line: wasabi wraps at 80 columns and splits long paths, but an error
    (``file:line: message``) should stay one line that editors and tools can parse."""
    line = f"{msg.icons['fail']} {text}"
    print(color(line, fg=msg.colors["red"]) if msg.show_color else line)


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


def convert_cli(
    # fmt: off
    fmt: Format = typer.Argument(..., metavar="FORMAT", help="Input format", case_sensitive=False),
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Input file, folder (OntoNotes tree, i2b2 release) or OntoNotes .tar.xz archive"),
    output_path: Path = typer.Argument(..., metavar="OUTPUT", help="The .spacy (DocBin) file to write"),
    scheme: Optional[str] = typer.Option(None, "--scheme", help="Tag scheme of iob/conll2003 input: IOB1, IOB2 or IOBES (detected if not given)"),
    split: Optional[str] = typer.Option(None, "--split", help="OntoNotes split: train, development or test"),
    genre: List[str] = typer.Option([], "--genre", help="OntoNotes genre to keep (repeatable: bc, bn, mz, nw, pt, tc, wb)"),
    drop_pt: bool = typer.Option(False, "--drop-pt", help="OntoNotes: leave out pt/ (no named-entity annotation)"),
    doc_per_document: bool = typer.Option(False, "--doc-per-document", help="One Doc per document/note (sentence starts set) instead of one per sentence/line"),
    lenient: bool = typer.Option(False, "--lenient", help="Skip bad items and count them instead of stopping at the first"),
    show_text: bool = typer.Option(False, "--show-text", help="Quote input text in error messages (off: notes may hold patient data)"),
    summary_path: Optional[Path] = typer.Option(None, "--summary", help="Also write the summary as JSON to this file"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress on stderr"),
    # fmt: on
) -> None:
    """Convert a corpus (iob, conll2003, ontonotes, i2b2-2010, i2b2-2009) into a spaCy DocBin.

    Prints a summary: files read, Docs and tokens written, entities per label, and everything
    repaired, merged, dropped as duplicate or overlap, or skipped.
    """
    try:
        for path in (output_path, summary_path):
            if path is not None:
                refuse_folder(path)
        docs, summary = run_conversion(
            fmt,
            input_path,
            scheme=scheme,
            split=split,
            genre=genre,
            drop_pt=drop_pt,
            doc_per_document=doc_per_document,
            lenient=lenient,
            show_text=show_text,
            progress=progress,
        )
        data, _ = docbin_bytes(docs)
        refuse_empty(input_path, summary)
        outputs = {output_path: data}
        if summary_path is not None:
            outputs[summary_path] = (summary.to_json() + "\n").encode("utf8")
        write_files(outputs)
    except (ConversionError, ValueError, OSError) as err:
        fail(str(err))
        raise typer.Exit(1)
    summary.print(msg)
    msg.good(f"Wrote {summary.docs:,} Docs ({summary.tokens:,} tokens) to {output_path}")


def subsample_cli(
    # fmt: off
    input_path: Path = typer.Argument(..., metavar="INPUT", help="The .spacy (DocBin) file to read"),
    output_path: Path = typer.Argument(..., metavar="OUTPUT", help="The .spacy file to write"),
    fraction: float = typer.Option(..., "--fraction", help="Fraction of Docs to keep, in [0, 1]"),
    seed: int = typer.Option(0, "--seed", help="Seed of the selection"),
    # fmt: on
) -> None:
    """Keep a seeded fraction of the Docs of a DocBin: the same Docs for the same seed anywhere.

    Uses :func:`spacy_dtn.subsample.subsample` (SHA-256 ranking of the Doc positions), so the
    selection depends only on the seed, the fraction and the number of Docs.
    """
    try:
        if not input_path.is_file():
            raise ConversionError(input_path, None, "no such file")
        try:
            db = DocBin().from_disk(input_path)
        except (
            Exception
        ) as err:  # srsly/msgpack/zlib raise many types on a file that is not a DocBin
            raise ConversionError(
                input_path, None, f"not a readable DocBin ({type(err).__name__})"
            ) from None
        docs = list(db.get_docs(Vocab()))
        kept = subsample(docs, fraction, seed)
        write_docbin(kept, output_path)
    except (ConversionError, ValueError, OSError) as err:
        fail(str(err))
        raise typer.Exit(1)
    msg.good(
        f"Kept {len(kept):,} of {len(docs):,} Docs (fraction {fraction}, seed {seed}); wrote {output_path}"
    )
