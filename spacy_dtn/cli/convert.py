"""``python -m spacy_dtn convert`` and ``python -m spacy_dtn subsample``.

Both commands turn every input problem into one ``✘ file:line: message`` line and exit code 1,
never a traceback: users should see what is wrong with their corpus, not with our code.
"""

from pathlib import Path
from typing import List, Optional

from wasabi import msg

from ..archive import ArchiveError, write_complement
from ..convert.docs import subsample_docbin
from ..convert.errors import ConversionError
from ..convert.run import Format, convert
from ._util import Arg, Opt, app, fail


@app.command("convert")
def convert_cli(
    # fmt: off
    fmt: Format = Arg(..., metavar="FORMAT", help="Input format", case_sensitive=False),
    input_path: Path = Arg(..., metavar="INPUT", help="Input file, folder (OntoNotes tree, i2b2 release) or OntoNotes .tar.xz archive"),
    output_path: Path = Arg(..., metavar="OUTPUT", help="The .spacy (DocBin) file to write"),
    scheme: Optional[str] = Opt(None, "--scheme", help="Tag scheme of iob/conll2003 input: IOB1, IOB2 or IOBES (detected if not given)"),
    split: Optional[str] = Opt(None, "--split", help="OntoNotes split: train, development or test"),
    genre: List[str] = Opt([], "--genre", help="OntoNotes genre to keep (repeatable: bc, bn, mz, nw, pt, tc, wb)"),
    drop_pt: bool = Opt(False, "--drop-pt", help="OntoNotes: leave out pt/ (no named-entity annotation)"),
    doc_per_document: bool = Opt(False, "--doc-per-document", help="One Doc per document/note (sentence starts set) instead of one per sentence/line"),
    lenient: bool = Opt(False, "--lenient", help="Skip bad items and count them instead of stopping at the first"),
    show_text: bool = Opt(False, "--show-text", help="Quote input text in error messages (off: notes may hold patient data)"),
    summary_path: Optional[Path] = Opt(None, "--summary", help="Also write the summary as JSON to this file"),
    progress: bool = Opt(True, "--progress/--no-progress", help="Show progress on stderr"),
    # fmt: on
) -> None:
    """Convert a corpus (iob, conll2003, ontonotes, i2b2-2010, i2b2-2009) into a spaCy DocBin.

    Prints a summary: files read, Docs and tokens written, entities per label, and everything
    repaired, merged, dropped as duplicate or overlap, or skipped.
    """
    try:
        summary = convert(
            fmt,
            input_path,
            output_path,
            summary_path=summary_path,
            scheme=scheme,
            split=split,
            genre=genre,
            drop_pt=drop_pt,
            doc_per_document=doc_per_document,
            lenient=lenient,
            show_text=show_text,
            progress=progress,
        )
    except (ConversionError, ValueError, OSError) as err:
        fail(str(err))
    summary.print(msg)
    msg.good(f"Wrote {summary.docs:,} Docs ({summary.tokens:,} tokens) to {output_path}")


@app.command("subsample")
def subsample_cli(
    # fmt: off
    input_path: Path = Arg(..., metavar="INPUT", help="The .spacy (DocBin) file to read"),
    output_path: Path = Arg(..., metavar="OUTPUT", help="The .spacy file to write"),
    fraction: float = Opt(..., "--fraction", help="Fraction of Docs to keep, in [0, 1]"),
    seed: int = Opt(0, "--seed", help="Seed of the selection"),
    complement: Optional[Path] = Opt(None, "--complement", help="Also write the Docs NOT kept, entity labels dropped (missing, not O), to this .spacy file: the unlabeled archive of self-training ([paths] unlabeled)"),
    # fmt: on
) -> None:
    """Keep a seeded fraction of the Docs of a DocBin: the same Docs for the same seed anywhere.

    Uses :func:`spacy_dtn.subsample.subsample` (SHA-256 ranking of the Doc positions), so the
    selection depends only on the seed, the fraction and the number of Docs. ``--complement``
    writes the other Docs without their labels (:func:`spacy_dtn.archive.write_complement`):
    the archive of the measurements, the train sentences nobody labelled for this seed.
    """
    try:
        kept, total = subsample_docbin(input_path, output_path, fraction, seed)
        if complement is not None:
            n_archive, _ = write_complement(input_path, complement, fraction, seed)
    except (ArchiveError, ConversionError, ValueError, OSError) as err:
        fail(str(err))
    msg.good(
        f"Kept {kept:,} of {total:,} Docs (fraction {fraction}, seed {seed}); wrote {output_path}"
    )
    if complement is not None:
        msg.good(f"Wrote the other {n_archive:,} Docs, labels dropped, to {complement}")
