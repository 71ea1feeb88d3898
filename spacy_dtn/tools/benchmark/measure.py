"""What is timed and measured: ABBA alternation, inference and training speed, thread pools,
peak memory in a child process, and the machine the numbers come from."""
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import spacy
from spacy.language import Language
from spacy.training import Example

from .data import DTN, NER, Sentence, make_docs, read_sentences


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
    parent, the other system's earlier runs have already raised it. See :func:`memory_probe`.
    """
    args = json.dumps([str(model), str(data), n_docs, batch_size])
    code = ("import sys; from spacy_dtn.tools.benchmark.measure import memory_probe; "
            "memory_probe(sys.argv[1])")
    env = dict(os.environ)
    if num_threads > 0:  # torch and the BLAS libraries read these when they start
        env.update({var: str(num_threads) for var in
                    ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    proc = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_probe(args: str) -> None:
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
    """The command as typed (``python -m spacy_dtn benchmark ...``), None when called from
    Python."""
    if sys.argv[1:2] == ["benchmark"]:
        return "python -m spacy_dtn benchmark " + shlex.join(sys.argv[2:])
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
