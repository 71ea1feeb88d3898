"""The benchmark itself: every measurement on CPU (and GPU), gathered into one report."""
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import spacy
from spacy.language import Language
from thinc.api import fix_random_seed
from wasabi import msg

from .data import (DEFAULT_DATA, DEFAULT_SOURCE, DTN, NER, Sentence, make_examples, progress,
                   read_sentences)
from .measure import alternate, machine_info, measure_memory, threads, time_inference, time_training
from .systems import count_parameters, dtn_parameters, dtn_pipe, init_dtn, init_ner, system_kind


def run_inference(
    systems: Dict[str, Language], sentences: List[Sentence], batch_size: int, repeats: int
) -> Dict[str, Any]:
    """Inference words/s of every system, alternating, after an untimed warm-up pass."""
    for nlp in systems.values():  # lazy allocations and caches are not inference speed
        time_inference(nlp, sentences[:100], batch_size)
    progress(f"inference: {repeats} repeats, batch size {batch_size}")
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
    progress(f"training: {steps} steps of {batch_size} sentences, {repeats} repeats")
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
        progress(f"reading {data}")
        sentences = read_sentences(data, n_docs)
        n_words = sum(len(w) for w, _, _ in sentences)
        systems: Dict[str, Language] = {}
        origins: Dict[str, str] = {}
        for path in models:
            nlp = spacy.load(path)
            kind = system_kind(nlp)
            systems[kind], origins[kind] = nlp, str(path)
        if DTN not in systems:
            progress("initialising dtn_ner (sharing=dtn, paper sizes) with a source task")
            src = read_sentences(source, n_source) if source.exists() else []
            if not src:
                msg.warn(f"no source data at {source}: dtn_ner has no source task")
            systems[DTN], origins[DTN] = init_dtn(sentences, src, vectors), "initialised"
        if NER not in systems:
            progress("initialising spaCy's ner (efficiency config of `spacy init config -p ner`)")
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
                    progress(f"memory of {name} (child process)")
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
                progress(f"threads: {n}")
                with threads(n):
                    cpu["threads"][str(n)] = alternate(
                        names, scan_repeats, lambda s: time_inference(systems[s], scan, batch_size))
                checkpoint(report)
            cpu["batch_size"] = {}
            for size in batch_sizes:
                progress(f"batch size: {size}")
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
