"""The Ray backend (``--backend ray``): Ray Data read tasks, one loaded pipeline per actor,
results streamed back to the job's writer. Imported only when that backend is chosen, so
Ray stays an optional dependency (``pip install 'spacy_dtn[ray]'``)."""
import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Set

import spacy

from .annotation import annotate_notes, load_pipeline
from .job import Job
from .readers import read_task
from .records import AnnotateError, BadRecord, Note

RAY_INSTALL = ("--backend ray needs Ray Data: pip install 'spacy_dtn[ray]' "
               "(or pip install 'ray[data]>=2.9' pyarrow)")


def require_ray():
    """``ray`` (with ``ray.data``) or an :class:`AnnotateError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise AnnotateError(RAY_INSTALL) from None
    return ray


def _ray_read(task: Dict[str, Any], done: Set[str]) -> Iterator[Dict[str, Any]]:
    """Rows of one read task for Ray: ``status`` ok (with its text), bad (with the reason) or
    done (written by an earlier run: its text is not shipped to an actor)."""
    for record in read_task(task):
        if isinstance(record, BadRecord):
            yield {"status": "bad", "id": None, "text": None, "where": record.where,
                   "reason": record.reason}
        elif record.id in done:
            yield {"status": "done", "id": record.id, "text": None, "where": record.where,
                   "reason": None}
        else:
            yield {"status": "ok", "id": record.id, "text": record.text,
                   "where": record.where, "reason": None}


class RayAnnotator:
    """A Ray Data actor: loads the pipeline once and annotates batches of rows with it, bad and
    done rows passed through untouched so that the driver accounts for every record."""

    def __init__(self, model: str, gates: bool, max_chars: int, batch_chars: int,
                 spans_key: Optional[str], batch_size: int, threads: int, gpu: bool):
        import torch

        torch.set_num_threads(max(1, threads))
        if gpu:
            spacy.require_gpu()
        self.nlp = load_pipeline(model, gates)
        self.max_chars, self.batch_chars = max_chars, batch_chars
        self.spans_key, self.batch_size = spans_key, batch_size

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        notes = [Note(r["id"], r["text"], r["where"]) for r in rows if r["status"] == "ok"]
        results = iter(annotate_notes(self.nlp, notes, batch_size=self.batch_size,
                                      max_chars=self.max_chars, batch_chars=self.batch_chars,
                                      spans_key=self.spans_key))
        out = []
        for r in rows:
            result = {"status": r["status"], "id": r["id"], "where": r["where"],
                      "reason": r["reason"], "row": None}
            if r["status"] == "ok":
                result["row"] = json.dumps(next(results)[0], ensure_ascii=False)
            out.append(result)
        return pa.Table.from_pylist(out, schema=pa.schema(
            [(name, pa.string()) for name in ("status", "id", "where", "reason", "row")]))


def run_ray(model: str, tasks: Sequence[Dict[str, Any]], job: Job, *, batch_size: int,
            n_process: int, max_chars: int, batch_chars: int, spans_key: Optional[str],
            gates: bool,
            address: Optional[str], cpus_per_actor: float, gpus_per_actor: float) -> None:
    """The Ray backend: read tasks in parallel (``from_items`` → ``flat_map``), one loaded
    pipeline per actor (``map_batches`` with ``concurrency=n_process``), results streamed
    back in input order to the same writer as the local backend (``iter_batches``).

    Results, not texts, come back: a note's entities are a small fraction of its bytes, and
    one writer keeps resuming, duplicate checks and bad-record reports exact and the output
    identical to the local backend's.
    """
    ray = require_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True,
                     logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = " ".join(str(err).split()).split(". ")[0]
            raise AnnotateError(f"Can't start or join Ray (address {address or 'auto'}): "
                                f"{first}; see docs/scale.md") from None
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # this command's own bar counts notes and words
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "disabled"
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
    if Path(model).exists():  # workers resolve paths from their own directory
        model = str(Path(model).resolve())
    done = job.done_before
    ds = ray.data.from_items(list(tasks), override_num_blocks=max(1, len(tasks)))
    # Reading takes no CPU slot: with every CPU given to an actor, readers that each wanted
    # one would wait for the actors, and the actors for them.
    ds = ds.flat_map(_ray_read, fn_kwargs={"done": done}, num_cpus=0)
    ds = ds.map_batches(
        RayAnnotator, batch_size=batch_size, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=n_process),
        num_cpus=cpus_per_actor, num_gpus=gpus_per_actor or None,
        fn_constructor_kwargs={"model": model, "gates": gates, "max_chars": max_chars,
                               "batch_chars": batch_chars, "spans_key": spans_key,
                               "batch_size": batch_size,
                               "threads": int(cpus_per_actor), "gpu": gpus_per_actor > 0},
    )
    try:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for r in batch.to_pylist():
                if r["status"] == "bad":
                    job.bad(r["where"], r["reason"])
                elif r["status"] == "done":
                    job.skip()
                else:
                    job.result(json.loads(r["row"]))
    except ray.exceptions.RayError as err:
        cause = _ray_cause(err)
        if cause is None:
            raise
        raise AnnotateError(f"on a Ray worker: {cause}") from None


def _ray_cause(err: BaseException) -> Optional[str]:
    """The message of the :class:`AnnotateError` (a model that does not load on a worker, a
    missing column) inside a Ray error: a task error keeps it as its ``cause``; an actor that
    died in its constructor keeps only the worker's traceback text, whose last line it is."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, AnnotateError):
            return str(err)
        found = re.findall(r"AnnotateError: (.+)", str(err))
        if found:
            return found[-1].strip()
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None
