"""``python -m spacy_dtn annotate MODEL INPUT OUTPUT``: the entities of a whole note archive.

A clinical team trains once and then annotates millions of notes, again whenever the model
changes. So the job has to stream (memory must not grow with the archive), survive being
killed (a rerun skips the notes already written, by id, and never writes one twice), account
for every input record (a bad one is named by file and line and counted, never dropped), and
scale past one machine on an existing engine rather than a home-made one. The same job runs on
two backends with one output format:

* ``local``: ``nlp.pipe`` with ``--n-process`` worker processes;
* ``ray``: a Ray Data pipeline (read tasks → ``map_batches`` with one loaded pipeline per actor
  → results streamed back to the writer), on a local Ray instance or a cluster
  (``RAY_ADDRESS`` / ``--ray-address``). See ``docs/scale.md``.

Everything is importable (the typer command is :mod:`spacy_dtn.cli.annotate`), one job a
module: the records and options (:mod:`.records`), the readers and their read plan
(:mod:`.readers`), the long-note windowing (:mod:`.split`), the annotation of a stream of
notes (:mod:`.annotation`), the resumable writers (:mod:`.writers`), the job's accounting,
provenance and local backend (:mod:`.job`), the Ray backend (:mod:`.ray_backend`, imported
only for ``--backend ray``) and, here, :func:`annotate`, which runs a whole job and returns
its summary.

Output: one record per note, in input order: ``{"id", "n_chars", "n_words", "entities":
[{"start", "end", "label", "text", "gates"?}]}``. A record per note (rather than per entity)
is what makes resuming exact: a note without entities is still marked done. ``start``/``end``
are character offsets into the note's text; ``gates`` (the mean of each DTN gate over the
entity's tokens) is present when the model stores gates (``store_gates`` or ``--gates``).

Provenance: the model behind an output (as given, its ``nlp.meta`` name and version, the
SHA-256 of its weights) is written beside it before its first record (:func:`provenance_path`)
and in the summary. A rerun resumes only with the same weights; another model is refused,
since one output would then mix two models' entities, unless ``overwrite`` discards the
earlier output first.
"""
from pathlib import Path
from typing import Optional, Union

from .annotation import annotate_notes, char_batches, doc_entities, load_pipeline, merge_pieces
from .job import (Job, Summary, claim_output, describe_model, discard_output, model_provenance,
                  provenance_path, run_local)
from .readers import (count_notes, plan_jsonl_ranges, plan_read_tasks, read_jsonl, read_parquet,
                      read_task, read_txt_files)
from .records import (AnnotateError, Backend, BadRecord, InputFormat, Note, OutputFormat,
                      check_record, parse_jsonl_line)
from .split import split_text
from .writers import DocBinWriter, JsonlWriter, ParquetWriter, open_writer, read_output

__all__ = [
    "AnnotateError", "Backend", "BadRecord", "DocBinWriter", "InputFormat", "Job", "JsonlWriter",
    "Note", "OutputFormat", "ParquetWriter", "Summary", "annotate", "annotate_notes",
    "char_batches", "check_record", "claim_output", "count_notes", "describe_model",
    "discard_output", "doc_entities", "load_pipeline", "merge_pieces", "model_provenance",
    "open_writer", "parse_jsonl_line", "plan_jsonl_ranges", "plan_read_tasks",
    "provenance_path", "read_jsonl", "read_output", "read_parquet", "read_task",
    "read_txt_files", "run_local", "split_text",
]


def annotate(model: str, input_path: Union[str, Path], output: Union[str, Path], *,
             input_format: InputFormat = InputFormat.auto,
             output_format: OutputFormat = OutputFormat.auto, id_field: str = "id",
             text_field: str = "text", spans_key: Optional[str] = None, gates: bool = False,
             docbin: Optional[Union[str, Path]] = None, batch_size: int = 64,
             n_process: int = 1, max_chars: int = 10_000, batch_chars: int = 50_000,
             chunk_size: int = 1000,
             strict: bool = False, errors: Optional[Union[str, Path]] = None,
             backend: Backend = Backend.local, ray_address: Optional[str] = None,
             cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0,
             overwrite: bool = False) -> Summary:
    """Annotate every note of ``input_path`` with ``model`` into ``output``; resumable by the
    same model (by its weights), or started over with ``overwrite``.

    RETURNS: the run's :class:`Summary` (``read == annotated + skipped + bad``).
    """
    backend = Backend(backend)
    if min(batch_size, n_process, chunk_size, batch_chars) < 1:
        raise AnnotateError("--batch-size, --batch-chars, --n-process and --chunk-size must be "
                            "at least 1")
    if max_chars < 0:
        raise AnnotateError(f"--max-chars must be 0 (never split) or more, got {max_chars}")
    if backend == Backend.ray:
        from .ray_backend import require_ray, run_ray  # Ray only for its backend

        require_ray()  # before the (slow) load, and before any output is created
        if docbin is not None:
            raise AnnotateError("--docbin works with the local backend only")
    tasks = plan_read_tasks(input_path, InputFormat(input_format), id_field, text_field,
                            parallel=n_process if backend == Backend.ray else 0)
    # Loaded here for the Ray backend too: its weights name the output's model.
    nlp = load_pipeline(model, gates)
    provenance = model_provenance(nlp, model)
    output, output_format = Path(output), OutputFormat(output_format)
    if overwrite:
        discard_output(output, output_format, Path(docbin) if docbin else None,
                       Path(errors) if errors else None)
    writer = open_writer(output, output_format)
    try:
        claim_output(writer, output, output_format, provenance)
    except AnnotateError:
        writer.close()
        raise
    docbin_writer = None
    if docbin is not None:
        docbin_writer = DocBinWriter(docbin)
        docbin_writer.recover(writer.done, nlp.vocab)
    job = Job(writer, docbin_writer, strict=strict, chunk_size=chunk_size,
               errors=Path(errors) if errors else None, total=count_notes(tasks),
               model=provenance)
    try:
        if backend == Backend.local:
            run_local(nlp, tasks, job, batch_size=batch_size, n_process=n_process,
                      max_chars=max_chars, batch_chars=batch_chars, spans_key=spans_key)
        else:
            run_ray(model, tasks, job, batch_size=batch_size, n_process=n_process,
                    max_chars=max_chars, batch_chars=batch_chars, spans_key=spans_key,
                    gates=gates,
                    address=ray_address, cpus_per_actor=cpus_per_actor,
                    gpus_per_actor=gpus_per_actor)
    finally:
        summary = job.close()  # what was annotated before an error is kept: resumable
    return summary
