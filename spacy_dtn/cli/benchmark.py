"""``python -m spacy_dtn benchmark``: :func:`spacy_dtn.tools.benchmark.benchmark`, printed and saved."""
from pathlib import Path
from typing import List, Optional

import srsly
from wasabi import msg

from ..tools.benchmark import (
    DEFAULT_DATA, DEFAULT_SOURCE, BenchmarkError, benchmark, print_report, to_markdown,
)
from ._util import Opt, app, fail


def _ints(text: str) -> List[int]:
    return [int(x) for x in text.replace(" ", "").split(",") if x]


@app.command("benchmark")
def benchmark_cli(
    # fmt: off
    data: Path = Opt(DEFAULT_DATA, "--data", "-d", help="IOB table or DocBin (.spacy) to run on"),
    model: List[Path] = Opt([], "--model", "-m", help="Trained pipeline(s) to use instead of an initialised dtn_ner / ner (by the component they hold)"),
    n_docs: int = Opt(0, "--n-docs", "-n", help="Use the first N docs of the data (0: all)"),
    batch_size: int = Opt(1000, "--batch-size", "-b", help="nlp.pipe batch size (docs) for the main inference figures"),
    repeats: int = Opt(5, "--repeats", "-r", help="Alternating repeats per measurement"),
    thread_counts: str = Opt("1,2", "--threads", help="Thread counts to scan, comma-separated ('' to skip)"),
    batch_sizes: str = Opt("1,10,100,1000", "--batch-sizes", help="Batch sizes to scan, comma-separated ('' to skip)"),
    scan_docs: int = Opt(1000, "--scan-docs", help="Docs used by the thread and batch-size scans (0: all)"),
    scan_repeats: int = Opt(3, "--scan-repeats", help="Repeats per point of the scans"),
    train: bool = Opt(True, "--train/--no-train", help="Measure training throughput"),
    train_steps: int = Opt(20, "--train-steps", help="Update steps per training repeat"),
    train_batch_size: int = Opt(32, "--train-batch-size", help="Sentences per training batch"),
    memory: bool = Opt(True, "--memory/--no-memory", help="Measure peak memory (child processes)"),
    source: Path = Opt(DEFAULT_SOURCE, "--source", help="Source-task data whose labels an initialised dtn_ner also gets"),
    n_source: int = Opt(200, "--n-source", help="Source sentences read for the labels"),
    vectors: Optional[Path] = Opt(None, "--vectors", help="spaCy vectors (a pipeline or `spacy init vectors` dir) for initialised systems; none by default"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="Also benchmark on this GPU (-1: CPU only)"),
    output: Optional[Path] = Opt(None, "--output", "-o", help="Write every figure and the metadata as JSON"),
    markdown: Optional[Path] = Opt(None, "--markdown", help="Also write the figures as Markdown tables"),
    seed: int = Opt(0, "--seed", help="Random seed for initialisation"),
    num_threads: int = Opt(0, "--num-threads", help="Threads for everything but the thread scan (0: the libraries' defaults)"),
    # fmt: on
) -> None:
    """Words/second, memory, threads and batch scaling, training throughput: dtn_ner vs ner."""

    def checkpoint(report) -> None:
        """Keep what is measured so far: a long run on a busy machine may be cut short."""
        if output is not None:
            srsly.write_json(output, {**report, "complete": False})

    try:
        report = benchmark(
            data, model, n_docs=n_docs, batch_size=batch_size, repeats=repeats,
            thread_counts=_ints(thread_counts), batch_sizes=_ints(batch_sizes),
            scan_docs=scan_docs, scan_repeats=scan_repeats, train=train,
            train_steps=train_steps, train_batch_size=train_batch_size, memory=memory,
            source=source, n_source=n_source, vectors=vectors, gpu_id=gpu_id, seed=seed,
            num_threads=num_threads, checkpoint=checkpoint,
        )
    except BenchmarkError as err:
        fail(str(err))
    print_report(report)
    if output is not None:
        srsly.write_json(output, {**report, "complete": True})
        msg.good(f"Saved {output}")
    if markdown is not None:
        markdown.write_text(to_markdown(report), encoding="utf-8")
        msg.good(f"Saved {markdown}")
