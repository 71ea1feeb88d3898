"""``python -m spacy_dtn annotate MODEL INPUT OUTPUT``: :func:`spacy_dtn.tools.annotate.annotate`,
with its summary printed."""
from pathlib import Path
from typing import Optional

import srsly
from wasabi import msg

from ..tools.annotate import (AnnotateError, Backend, InputFormat, OutputFormat, Summary, annotate,
                        describe_model)
from ._util import Arg, Opt, app, fail


def print_summary(summary: Summary, output: Path) -> None:
    s = summary.as_dict()
    msg.good(f"{s['annotated']:,} notes annotated into {output}: {s['entities']:,} entities, "
             f"{s['words']:,} words in {s['seconds']:.1f} s ({s['notes_per_s']:,.1f} notes/s, "
             f"{s['words_per_s']:,.0f} words/s)")
    msg.text(f"model {describe_model(s['model'])}")
    msg.text(f"read {s['read']:,} = annotated {s['annotated']:,} + already written "
             f"{s['skipped']:,} + bad {s['bad']:,}; {s['split_notes']:,} long notes split "
             f"into pieces ({s['pieces']:,} pieces in all)")
    if s["truncated_bytes"]:
        msg.warn(f"cut off a half-written last line ({s['truncated_bytes']} bytes) of "
                 f"{output} left by an interrupted run")
    if s["bad"]:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["bad_by_reason"].items()))
        msg.warn(f"{s['bad']:,} bad records skipped ({reasons})")


@app.command("annotate")
def annotate_cli(
    model: str = Arg(..., help="Pipeline: a directory or a package name"),
    input_path: Path = Arg(..., metavar="INPUT",
                                      help="JSONL, Parquet (file or folder) or a folder of .txt"),
    output: Path = Arg(..., help="OUTPUT.jsonl (one line per note) or a .parquet "
                                            "folder of parts"),
    input_format: InputFormat = Opt(InputFormat.auto, "--input-format"),
    output_format: OutputFormat = Opt(OutputFormat.auto, "--output-format"),
    id_field: str = Opt("id", "--id-field", help="The id field/column"),
    text_field: str = Opt("text", "--text-field", help="The text field/column"),
    spans_key: Optional[str] = Opt(
        None, "--spans-key", "-k", help="Read entities from doc.spans[KEY], not doc.ents"),
    gates: bool = Opt(False, "--gates", help="Turn store_gates on: per-entity mean "
                                                      "gate values in the output"),
    docbin: Optional[Path] = Opt(None, "--docbin", help="Also write the Docs as a "
                                                                 "folder of DocBin parts"),
    batch_size: int = Opt(64, "--batch-size", "-b", help="Docs per nlp.pipe batch"),
    n_process: int = Opt(1, "--n-process", "-n",
                                  help="nlp.pipe processes (local) or actors (ray)"),
    max_chars: int = Opt(10_000, "--max-chars",
                                  help="Split longer notes into pieces (0: never)"),
    batch_chars: int = Opt(50_000, "--batch-chars",
                                    help="Characters per batch at most (one process, Ray)"),
    chunk_size: int = Opt(1000, "--chunk-size", help="Notes per write/part file"),
    strict: bool = Opt(False, "--strict", help="A bad record is an error"),
    errors: Optional[Path] = Opt(None, "--errors",
                                          help="Write every bad record to this JSONL file"),
    backend: Backend = Opt(Backend.local, "--backend"),
    ray_address: Optional[str] = Opt(
        None, "--ray-address", help="Ray cluster to join, 'local' for a new local one "
                                    "(default: RAY_ADDRESS, else a `ray start` cluster here, "
                                    "else a new local one)"),
    cpus_per_actor: float = Opt(1.0, "--cpus-per-actor", help="Ray: CPUs per actor"),
    gpus_per_actor: float = Opt(0.0, "--gpus-per-actor", help="Ray: GPUs per actor"),
    summary_path: Optional[Path] = Opt(None, "--summary",
                                                help="Write the run's summary as JSON"),
    overwrite: bool = Opt(False, "--overwrite", help="Discard what earlier runs wrote to "
                                                     "OUTPUT (and --docbin, --errors) first"),
) -> None:
    """Annotate every note of INPUT with MODEL into OUTPUT, streaming and resumable: a rerun
    with the same model (same weights) skips the notes already written; another model is
    refused unless --overwrite. Bad records are reported by line and counted."""
    try:
        summary = annotate(
            model, input_path, output, input_format=input_format, output_format=output_format,
            id_field=id_field, text_field=text_field, spans_key=spans_key, gates=gates,
            docbin=docbin, batch_size=batch_size, n_process=n_process, max_chars=max_chars,
            batch_chars=batch_chars, chunk_size=chunk_size, strict=strict, errors=errors,
            backend=backend, ray_address=ray_address, cpus_per_actor=cpus_per_actor,
            gpus_per_actor=gpus_per_actor, overwrite=overwrite)
    except AnnotateError as err:
        fail(str(err))
    print_summary(summary, output)
    if summary_path is not None:
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(summary_path, summary.as_dict())
