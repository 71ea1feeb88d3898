"""``python -m spacy_dtn benchmark``: how fast ``dtn_ner`` runs next to spaCy's own ``ner``.

A component that people add to a production pipeline is judged by words per second beside
spaCy's built-in ``ner``. Timings on a shared machine are noisy, so every number here
comes from the two systems run in the same process over the same Docs, alternating (ABBA order)
over several repeats, and the median, min and max are kept, never a single run.

What is measured, per device (CPU, and GPU with ``--gpu-id``):

* inference words per second over pre-tokenised Docs built from the gold words (tokenisation
  is not measured), through ``nlp.pipe(batch_size=...)``; the ratio is dtn_ner / ner of the
  medians;
* peak memory of one inference pass, each system in a fresh child process: the growth of the
  maximum resident set size (``resource.getrusage``; covers torch, numpy and Python) and, in a
  second pass, the Python-level peak that ``tracemalloc`` sees (numpy buffers and Python objects,
  not torch's CPU allocator). On GPU: ``torch.cuda.max_memory_allocated`` with Thinc's cupy
  allocations routed through PyTorch's allocator;
* thread scaling (``torch.set_num_threads`` and ``threadpoolctl`` for BLAS/OpenMP pools) and
  batch size scaling (batch 1 ... 1,000) of inference;
* training sentences per second: a fixed number of ``nlp.update`` steps on consecutive real
  batches of the data (one task per batch: the target);
* parameter counts of ``dtn_ner`` before and after ``drop_source_task()``.

Without ``--model`` both systems are initialised, not trained: ``dtn_ner`` with its default
config (``sharing=dtn``, the paper's sizes) on the data's labels plus a source task (NCBI-disease
labels, so that it has source parameters), and ``ner`` from the efficiency config of
``spacy init config -p ner``. Their speed does not depend on the weights: the DTN decodes every
token step by step whatever it predicts, and the transition-based ``ner`` takes exactly one
action per token.
"""
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import fix_random_seed
from wasabi import msg

from .component import DTNEntityRecognizer
from .tasks import SOURCE, set_task

_DATA = Path("../shared/data")  # the shared corpora, beside the project (run from its root)
DEFAULT_DATA = _DATA / "bc5cdr" / "test.tsv"
DEFAULT_SOURCE = _DATA / "ncbi-disease" / "train.tsv"
DTN, NER = "dtn_ner", "ner"
#: A vocab-free sentence: words, trailing spaces, IOB tags (so each system gets its own Docs).
Sentence = Tuple[List[str], List[bool], List[str]]


def _progress(text: str) -> None:
    """Progress goes to stderr, so that stdout holds only the tables."""
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# Data ------------------------------------------------------------------------------------


def read_sentences(path: Path, n_docs: int = 0) -> List[Sentence]:
    """Words, spaces and IOB tags of the first ``n_docs`` docs (0: all) of an IOB table or a
    DocBin."""
    vocab = Vocab()
    if path.suffix == ".spacy":
        docs: Iterator[Doc] = DocBin().from_disk(path).get_docs(vocab)
    else:
        from .convert.iob import convert_iob

        docs, _ = convert_iob(path, vocab=vocab)
    out = []
    for doc in islice(docs, n_docs or None):
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else "O" for t in doc]
        out.append(([t.text for t in doc], [bool(t.whitespace_) for t in doc], tags))
    if not out:
        raise ValueError(f"no docs in {path}")
    return out


def make_docs(nlp: Language, sentences: Sequence[Sentence]) -> List[Doc]:
    """Fresh, unannotated Docs in this pipeline's vocab (the input of one timed pass)."""
    return [Doc(nlp.vocab, words=w, spaces=s) for w, s, _ in sentences]


def make_examples(nlp: Language, sentences: Sequence[Sentence], task: Optional[str] = None):
    """Training examples in this pipeline's vocab; the gold doc marked with ``task`` if given."""
    examples = []
    for words, spaces, tags in sentences:
        gold = Doc(nlp.vocab, words=words, spaces=spaces, ents=tags)
        if task is not None:
            set_task(gold, task)
        examples.append(Example(Doc(nlp.vocab, words=words, spaces=spaces), gold))
    return examples


# Systems ---------------------------------------------------------------------------------


def init_dtn(
    sentences: Sequence[Sentence], source: Sequence[Sentence], vectors: Optional[Path]
) -> Language:
    """``dtn_ner`` with its default config (sharing=dtn, paper sizes), target + source task."""
    nlp = spacy.blank("en")
    nlp.add_pipe(DTN)
    return _initialize(nlp, make_examples(nlp, sentences) + make_examples(nlp, source, SOURCE),
                       vectors)


def init_ner(sentences: Sequence[Sentence], vectors: Optional[Path]) -> Language:
    """spaCy's ``ner`` from the efficiency config of ``spacy init config -p ner``."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=[NER], optimize="efficiency")
    # What `spacy init config` writes when vectors are given: the same vectors setting as dtn_ner.
    config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] = bool(vectors)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    return _initialize(nlp, make_examples(nlp, sentences), vectors)


def _initialize(nlp: Language, examples: List[Example], vectors: Optional[Path]) -> Language:
    if vectors is not None:
        from spacy.training.initialize import load_vectors_into_model

        load_vectors_into_model(nlp, str(vectors))
    nlp.initialize(lambda: examples)
    return nlp


def system_kind(nlp: Language) -> str:
    """``dtn_ner`` if the pipeline has a dtn_ner component, ``ner`` if it has spaCy's ner."""
    factories = [nlp.get_pipe_meta(name).factory for name in nlp.pipe_names]
    for kind in (DTN, NER):
        if kind in factories:
            return kind
    raise ValueError(f"pipeline has neither dtn_ner nor ner (components: {nlp.pipe_names})")


def count_parameters(nlp: Language) -> Dict[str, int]:
    """Trainable numbers per component: Thinc params plus, for ``dtn_ner``, its network's."""
    counts = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None:
            continue
        total = 0
        for node in model.walk():
            total += sum(node.get_param(p).size for p in node.param_names if node.has_param(p))
        if isinstance(pipe, DTNEntityRecognizer):
            total += sum(p.numel() for p in pipe.network.parameters())
        counts[name] = int(total)
    counts["total"] = sum(counts.values())
    return counts


def dtn_pipe(nlp: Language):
    """The pipeline's ``dtn_ner`` component (the first, if it has several)."""
    return nlp.get_pipe(next(n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == DTN))


def dtn_parameters(nlp: Language) -> Dict[str, Any]:
    """Parameter counts before and after ``drop_source_task()`` (drops it: call it last)."""
    pipe = dtn_pipe(nlp)
    before = {"network": sum(p.numel() for p in pipe.network.parameters()),
              **count_parameters(nlp)}
    pipe.drop_source_task()
    after = {"network": sum(p.numel() for p in pipe.network.parameters()),
             **count_parameters(nlp)}
    return {"before_drop": before, "after_drop": after,
            "dropped": before["total"] - after["total"]}


# Measurements ----------------------------------------------------------------------------


def summary(values: Sequence[float]) -> Dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": list(values)}


def alternate(names: Sequence[str], repeats: int, run: Callable[[str], float]) -> Dict[str, Any]:
    """``run(name)`` for every system, ``repeats`` times, in ABBA order to cancel drift.

    Returns ``{name: summary}`` plus ``ratio``: dtn_ner's median over ner's (when both ran).
    """
    values: Dict[str, List[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        order = list(names) if repeat % 2 == 0 else list(reversed(names))
        for name in order:
            values[name].append(run(name))
    result: Dict[str, Any] = {name: summary(v) for name, v in values.items()}
    if DTN in result and NER in result:
        result["ratio"] = result[DTN]["median"] / result[NER]["median"]
    return result


def time_inference(nlp: Language, sentences: Sequence[Sentence], batch_size: int) -> float:
    """Words per second of one ``nlp.pipe`` pass (making the Docs is not timed)."""
    docs = make_docs(nlp, sentences)
    n_words = sum(len(doc) for doc in docs)
    start = time.perf_counter()
    for _ in nlp.pipe(docs, batch_size=batch_size):
        pass
    return n_words / (time.perf_counter() - start)


def time_training(nlp: Language, batches: List[List[Example]], optimizer) -> float:
    """Sentences per second of ``nlp.update`` over the given single-task batches."""
    start = time.perf_counter()
    for batch in batches:
        nlp.update(batch, sgd=optimizer, drop=0.1)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


@contextmanager
def threads(n: int):
    """Limit torch's intra-op pool and the BLAS/OpenMP pools (threadpoolctl) to ``n``.

    spaCy's ``ner`` computes with Thinc's own blis gemm, which is single-threaded, so it is
    expected not to scale; the DTN's LSTMs run in torch and may.
    """
    import torch

    # Order matters: torch and threadpoolctl share OpenMP's setting, so torch's count is read
    # before threadpoolctl changes it, and restored after threadpoolctl restores its own.
    before = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=n)
    except ImportError:  # threadpoolctl is optional
        limits = None
    torch.set_num_threads(n)
    try:
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()
        torch.set_num_threads(before)


def measure_memory(
    model: Path, data: Path, n_docs: int, batch_size: int, num_threads: int = 0
) -> Dict[str, Any]:
    """Peak memory of one inference pass of a saved pipeline, in a fresh child process.

    A fresh process is the only clean baseline for the maximum resident set size: in the
    parent, the other system's earlier runs have already raised it. See :func:`_memory_probe`.
    """
    args = json.dumps([str(model), str(data), n_docs, batch_size])
    code = "import sys; from spacy_dtn.benchmark import _memory_probe; _memory_probe(sys.argv[1])"
    env = dict(os.environ)
    if num_threads > 0:  # torch and the BLAS libraries read these when they start
        env.update({var: str(num_threads) for var in
                    ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _memory_probe(args: str) -> None:
    """Child of :func:`measure_memory`: load, warm up, run once for RSS, once for tracemalloc."""
    import tracemalloc

    model, data, n_docs, batch_size = json.loads(args)
    nlp = spacy.load(model)
    sentences = read_sentences(Path(data), n_docs)
    time_inference(nlp, sentences[:2], batch_size)  # lazy initialisation is not inference
    docs = make_docs(nlp, sentences)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in nlp.pipe(docs, batch_size=batch_size):
        pass
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    docs = make_docs(nlp, sentences)
    tracemalloc.start()
    for _ in nlp.pipe(docs, batch_size=batch_size):
        pass
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({
        "rss_peak_delta_mib": (rss_after - rss_before) / 1024,
        "rss_peak_mib": rss_after / 1024,
        "python_peak_mib": python_peak / 2**20,
    }))


def _command_line() -> Optional[str]:
    """The command as typed (``python -m spacy_dtn benchmark ...`` or ``python -m
    spacy_dtn.benchmark ...``)."""
    if sys.argv[1:2] == ["benchmark"]:
        return "python -m spacy_dtn benchmark " + shlex.join(sys.argv[2:])
    if sys.argv[0].endswith("benchmark.py"):
        return "python -m spacy_dtn.benchmark " + shlex.join(sys.argv[1:])
    return None


def machine_info() -> Dict[str, Any]:
    import numpy
    import thinc
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        pools = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads")}
                 for p in threadpool_info()]
    except ImportError:
        pools = None
    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or None
        # Uncommitted changes to the package (someone optimising it) are measured too.
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                     "spacy_dtn"], capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = None, None
    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "spacy": spacy.__version__, "thinc": thinc.__version__, "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cpu": cpu, "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "thread_env": {k: os.environ.get(k) for k in
                       ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "threadpools": pools,
        "load_average_start": list(os.getloadavg()),
    }


# The benchmark ---------------------------------------------------------------------------


def run_inference(
    systems: Dict[str, Language], sentences: List[Sentence], batch_size: int, repeats: int
) -> Dict[str, Any]:
    """Inference words/s of every system, alternating, after an untimed warm-up pass."""
    for nlp in systems.values():  # lazy allocations and caches are not inference speed
        time_inference(nlp, sentences[:100], batch_size)
    _progress(f"inference: {repeats} repeats, batch size {batch_size}")
    return alternate(
        list(systems), repeats, lambda n: time_inference(systems[n], sentences, batch_size))


def run_training(
    systems: Dict[str, Language], sentences: List[Sentence], steps: int, batch_size: int,
    repeats: int,
) -> Dict[str, Any]:
    """Training sentences/s: the same ``steps`` consecutive real batches for every system.

    Every batch is target data (one task per batch, as ``dtn_ner`` requires); each system
    uses the optimizer of its own config (``nlp.create_optimizer()``) and spaCy's default
    training dropout, 0.1 (``dtn_ner`` applies its own configured dropout inside the network).
    """
    _progress(f"training: {steps} steps of {batch_size} sentences, {repeats} repeats")
    batches, optimizers = {}, {}
    for name, nlp in systems.items():
        examples = make_examples(nlp, sentences)
        batches[name] = [[examples[(i * batch_size + j) % len(examples)]
                          for j in range(batch_size)] for i in range(steps)]
        optimizers[name] = nlp.create_optimizer()
        nlp.update(batches[name][0], sgd=optimizers[name], drop=0.1)  # warm-up
    result = alternate(
        list(systems), repeats, lambda n: time_training(systems[n], batches[n], optimizers[n]))
    result["unit"] = "sentences/s"
    return result


class BenchmarkError(Exception):
    """A problem with the command's input: one line, exit code 1."""


def benchmark(
    data: Path = DEFAULT_DATA,
    models: Sequence[Path] = (),
    *,
    n_docs: int = 0,
    batch_size: int = 1000,
    repeats: int = 5,
    thread_counts: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1, 10, 100, 1000),
    scan_docs: int = 1000,
    scan_repeats: int = 3,
    train: bool = True,
    train_steps: int = 20,
    train_batch_size: int = 32,
    memory: bool = True,
    source: Path = DEFAULT_SOURCE,
    n_source: int = 200,
    vectors: Optional[Path] = None,
    gpu_id: int = -1,
    seed: int = 0,
    num_threads: int = 0,
    checkpoint: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Dict[str, Any]:
    """Words/second, memory, threads and batch scaling, training throughput: dtn_ner vs ner.

    The arguments are the command's options (``models``: ``--model``, ``thread_counts``:
    ``--threads``). checkpoint: called with the report measured so far after each part, so
    that a run cut short on a busy machine keeps what it measured.
    RETURNS: the report: ``meta``, ``settings``, ``systems``, ``cpu``, ``gpu``, ``parameters``.
    """
    checkpoint = checkpoint or (lambda report: None)
    stack = ExitStack()
    if num_threads > 0:
        stack.enter_context(threads(num_threads))
    with stack:
        meta = machine_info()
        for path in [data, *models] + ([vectors] if vectors else []):
            if not path.exists():
                raise BenchmarkError(f"not found: {path}")
        if gpu_id >= 0:  # fail now, not after the CPU half of the benchmark
            from thinc.util import has_cupy_gpu, has_torch_cuda_gpu

            if not (has_cupy_gpu and has_torch_cuda_gpu):
                raise BenchmarkError(
                    f"--gpu-id {gpu_id}: no GPU usable by both cupy and torch here")
        fix_random_seed(seed)
        _progress(f"reading {data}")
        sentences = read_sentences(data, n_docs)
        n_words = sum(len(w) for w, _, _ in sentences)
        systems: Dict[str, Language] = {}
        origins: Dict[str, str] = {}
        for path in models:
            nlp = spacy.load(path)
            kind = system_kind(nlp)
            systems[kind], origins[kind] = nlp, str(path)
        if DTN not in systems:
            _progress("initialising dtn_ner (sharing=dtn, paper sizes) with a source task")
            src = read_sentences(source, n_source) if source.exists() else []
            if not src:
                msg.warn(f"no source data at {source}: dtn_ner has no source task")
            systems[DTN], origins[DTN] = init_dtn(sentences, src, vectors), "initialised"
        if NER not in systems:
            _progress("initialising spaCy's ner (efficiency config of `spacy init config -p ner`)")
            systems[NER], origins[NER] = init_ner(sentences, vectors), "initialised"
        systems = {name: systems[name] for name in (DTN, NER)}
        scan = sentences[:scan_docs] if scan_docs else sentences
        report: Dict[str, Any] = {
            "meta": meta,
            "settings": {
                "data": str(data), "n_docs": len(sentences), "n_words": n_words,
                "vectors": str(vectors) if vectors else None, "batch_size": batch_size,
                "repeats": repeats, "scan_docs": len(scan),
                "scan_words": sum(len(s[0]) for s in scan),
                "scan_repeats": scan_repeats, "train_steps": train_steps,
                "train_batch_size": train_batch_size, "train_dropout": 0.1, "seed": seed,
                "source": str(source) if origins[DTN] == "initialised" else None,
                "num_threads": num_threads or None,
            },
            "systems": {name: {"origin": origins[name], "pipeline": nlp.pipe_names,
                               "weights": "initialised, untrained" if origins[name] == "initialised"
                               else "trained"} for name, nlp in systems.items()},
        }
        report["systems"][DTN]["sharing"] = dtn_pipe(systems[DTN]).network.config.sharing
        report["systems"][DTN]["tasks"] = dtn_pipe(systems[DTN]).tasks

        # CPU: inference first, on the untrained weights (training would change them).
        with tempfile.TemporaryDirectory() as tmp:
            saved = {}
            for name, nlp in systems.items():
                if origins[name] == "initialised":
                    saved[name] = Path(tmp) / name
                    nlp.to_disk(saved[name])
                else:
                    saved[name] = Path(origins[name])
            cpu: Dict[str, Any] = {}
            report["cpu"] = cpu

            if memory:
                cpu["memory"] = {}
                for name in systems:
                    _progress(f"memory of {name} (child process)")
                    try:
                        cpu["memory"][name] = measure_memory(
                            saved[name], data, len(sentences), batch_size, num_threads)
                    except RuntimeError as err:
                        msg.warn(f"memory of {name} not measured: {err}")
                        cpu["memory"][name] = None
            checkpoint(report)
            cpu["inference"] = run_inference(systems, sentences, batch_size, repeats)
            checkpoint(report)
            names = list(systems)
            cpu["threads"] = {}
            for n in thread_counts:
                _progress(f"threads: {n}")
                with threads(n):
                    cpu["threads"][str(n)] = alternate(
                        names, scan_repeats, lambda s: time_inference(systems[s], scan, batch_size))
                checkpoint(report)
            cpu["batch_size"] = {}
            for size in batch_sizes:
                _progress(f"batch size: {size}")
                cpu["batch_size"][str(size)] = alternate(
                    names, scan_repeats, lambda s: time_inference(systems[s], scan, size))
                checkpoint(report)
            if train:
                cpu["training"] = run_training(systems, sentences, train_steps, train_batch_size,
                                               repeats)
            report["gpu"] = None
            if gpu_id >= 0:
                report["gpu"] = _gpu_run(saved, sentences, gpu_id, batch_size, repeats,
                                         train_steps if train else 0, train_batch_size)
        report["parameters"] = {DTN: dtn_parameters(systems[DTN]),
                                NER: count_parameters(systems[NER])}
        report["meta"]["load_average_end"] = list(os.getloadavg())
    return report


def _gpu_run(
    saved: Dict[str, Path], sentences: List[Sentence], gpu_id: int, batch_size: int,
    repeats: int, train_steps: int, train_batch_size: int,
) -> Dict[str, Any]:
    """The same inference and training on a GPU, pipelines reloaded there from disk.

    Memory: Thinc's cupy allocations go through PyTorch's allocator (spaCy's
    ``gpu_allocator = "pytorch"``), so ``torch.cuda.max_memory_allocated`` counts both.
    """
    import torch
    from thinc.api import set_gpu_allocator

    spacy.require_gpu(gpu_id)
    set_gpu_allocator("pytorch")
    systems = {name: spacy.load(path) for name, path in saved.items()}
    result = {"inference": run_inference(systems, sentences, batch_size, repeats), "memory": {}}
    for name, nlp in systems.items():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        time_inference(nlp, sentences, batch_size)
        torch.cuda.synchronize()
        result["memory"][name] = {
            "cuda_peak_delta_mib": (torch.cuda.max_memory_allocated() - base) / 2**20}
    if train_steps:
        result["training"] = run_training(systems, sentences, train_steps, train_batch_size,
                                          repeats)
    result["device"] = torch.cuda.get_device_name(gpu_id)
    return result


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def to_markdown(report: Dict[str, Any]) -> str:
    """The figures as Markdown tables, for BENCHMARKS.md (so nothing there is typed by hand)."""
    settings, meta = report["settings"], report["meta"]
    load = (f"{meta['load_average_start'][0]:.1f} at the start, "
            f"{meta['load_average_end'][0]:.1f} at the end")
    lines = [
        f"`{meta.get('command')}`",
        "",
        f"Data: `{settings['data']}`, {settings['n_docs']:,} docs, {settings['n_words']:,} words; "
        f"vectors: {settings['vectors'] or 'none'}. Machine: {meta['cpu']}, {meta['cpu_count']} "
        f"cores, load average (1 min) {load}; torch {meta['torch']}, spaCy {meta['spacy']}, "
        f"torch threads {meta['torch_threads']}; git {str(meta['git_commit'])[:7]}"
        f"{' (with uncommitted changes)' if meta.get('git_dirty') else ''}; {meta['date_utc']}.",
    ]
    for device in ("cpu", "gpu"):
        section = report.get(device)
        if not section:
            continue
        inf, mem = section["inference"], section.get("memory") or {}
        lines += ["", f"{device.upper()} inference, batch {settings['batch_size']}, "
                      f"{settings['repeats']} alternating repeats:", "",
                  "| system | words/s median | min | max | ratio to ner | peak memory |",
                  "|---|---:|---:|---:|---:|---|"]
        for name in (DTN, NER):
            m = mem.get(name) or {}
            if device == "cpu":
                peak = (f"RSS +{m['rss_peak_delta_mib']:.0f} MiB, "
                        f"Python {m['python_peak_mib']:.0f} MiB"
                        if m else "-")
            else:
                peak = f"CUDA +{m['cuda_peak_delta_mib']:.0f} MiB" if m else "-"
            lines.append(f"| {name} | {inf[name]['median']:,.0f} | {inf[name]['min']:,.0f} | "
                         f"{inf[name]['max']:,.0f} | "
                         f"{inf[name]['median'] / inf[NER]['median']:.2f} "
                         f"| {peak} |")
        for key, title in (("threads", "threads"), ("batch_size", "batch size")):
            if section.get(key):
                lines += ["", f"{device.upper()} inference by {title} ({settings['scan_docs']:,} "
                              f"docs, {settings['scan_words']:,} words, {settings['scan_repeats']} "
                              "repeats; words/s median [min-max]):", "",
                          f"| {title} | {DTN} | {NER} | ratio |", "|---:|---:|---:|---:|"]
                for k, v in section[key].items():
                    cells = [f"{v[n]['median']:,.0f} [{v[n]['min']:,.0f}-{v[n]['max']:,.0f}]"
                             for n in (DTN, NER)]
                    lines.append(f"| {k} | {cells[0]} | {cells[1]} | {v['ratio']:.2f} |")
        if section.get("training"):
            t = section["training"]
            lines += ["", f"{device.upper()} training, {settings['train_steps']} steps of "
                          f"{settings['train_batch_size']} sentences, {settings['repeats']} "
                          "repeats (sentences/s):", "",
                      "| system | median | min | max | ratio to ner |", "|---|---:|---:|---:|---:|"]
            for name in (DTN, NER):
                lines.append(f"| {name} | {t[name]['median']:,.1f} | {t[name]['min']:,.1f} | "
                             f"{t[name]['max']:,.1f} | "
                             f"{t[name]['median'] / t[NER]['median']:.2f} |")
    p = report["parameters"]
    before, after = p[DTN]["before_drop"], p[DTN]["after_drop"]
    lines += ["", "Parameters:", "", "| | with source task | source dropped |", "|---|---:|---:|",
              f"| {DTN}, torch network | {before['network']:,} | {after['network']:,} |",
              f"| {DTN}, whole pipeline (with tok2vec) | {before['total']:,} | "
              f"{after['total']:,} |",
              f"| {NER}, whole pipeline (tok2vec + ner) | {p[NER]['total']:,} | |"]
    return "\n".join(lines) + "\n"


def print_report(report: Dict[str, Any]) -> None:
    settings = report["settings"]
    msg.divider(f"{settings['n_docs']:,} docs, {settings['n_words']:,} words, "
                f"vectors: {settings['vectors'] or 'none'}")
    for device in ("cpu", "gpu"):
        section = report.get(device)
        if not section:
            continue
        inference, mem = section["inference"], section.get("memory") or {}
        rows = []
        for name in (DTN, NER):
            m = mem.get(name) or {}
            peak = ([_fmt(m.get("rss_peak_delta_mib"), 1), _fmt(m.get("python_peak_mib"), 1)]
                    if device == "cpu" else [_fmt(m.get("cuda_peak_delta_mib"), 1)])
            rows.append([name, _fmt(inference[name]["median"]), _fmt(inference[name]["min"]),
                         _fmt(inference[name]["max"]),
                         _fmt(inference[name]["median"] / inference[NER]["median"], 2), *peak])
        mem_header = (["RSS peak +MiB", "Python peak MiB"] if device == "cpu"
                      else ["CUDA peak +MiB"])
        msg.info(f"{device.upper()} inference, words/s, batch {settings['batch_size']}")
        msg.table(rows, header=["system", "median", "min", "max", "ratio", *mem_header],
                  divider=True, aligns=["l"] + ["r"] * (5 + len(mem_header) - 1))
        for key, title in (("threads", "threads"), ("batch_size", "batch size")):
            scan = section.get(key) or {}
            if scan:
                msg.info(f"{device.upper()} inference words/s (median) by {title}, "
                         f"{settings['scan_docs']:,} docs")
                msg.table([[k, _fmt(v[DTN]["median"]), _fmt(v[NER]["median"]),
                            _fmt(v["ratio"], 2)] for k, v in scan.items()],
                          header=[title, DTN, NER, "ratio"], divider=True,
                          aligns=["r", "r", "r", "r"])
        if section.get("training"):
            t = section["training"]
            msg.info(f"{device.upper()} training, sentences/s, batches of "
                     f"{settings['train_batch_size']}")
            msg.table([[n, _fmt(t[n]["median"], 1), _fmt(t[n]["min"], 1), _fmt(t[n]["max"], 1)]
                       for n in (DTN, NER)] + [["ratio", _fmt(t["ratio"], 2), "", ""]],
                      header=["system", "median", "min", "max"], divider=True,
                      aligns=["l", "r", "r", "r"])
    params = report["parameters"]
    msg.info("Parameters")
    before, after = params[DTN]["before_drop"], params[DTN]["after_drop"]
    msg.table([[f"{DTN} (torch network)", f"{before['network']:,}", f"{after['network']:,}"],
               [f"{DTN} (whole pipeline)", f"{before['total']:,}", f"{after['total']:,}"],
               [f"{NER} (whole pipeline)", f"{params[NER]['total']:,}", ""]],
              header=["", "with source", "source dropped"], divider=True,
              aligns=["l", "r", "r"])


if __name__ == "__main__":  # ``python -m spacy_dtn.benchmark``: the command without the app
    import typer

    from spacy_dtn.cli.benchmark import benchmark_cli

    typer.run(benchmark_cli)
