"""The commands of one run: ``spacy train`` with the run's overrides (seed, subsample, source,
transformer, unlabeled archive), ``python -m spacy_dtn evaluate`` on the test set, each in its
own process."""
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import srsly
from wasabi import msg

from .systems import DONE_FILE, SCORES_FILE, CompareError, Run, reads_path, split_config

#: Each seed's unlabeled archive with ``--archive-complement``: the target's train docs
#: outside that seed's labelled fraction, labels dropped (``runs/seed-<s>/archive.spacy``).
ARCHIVE_FILE = "archive.spacy"
_ARCHIVE_LOCK = threading.Lock()  # runs of one seed may start together (--jobs)


def seed_archive(run: Run) -> Path:
    """Where the archive of a run's seed lives with ``--archive-complement``."""
    return run.run_dir.parent / ARCHIVE_FILE


def write_seed_archive(run: Run, options: Dict[str, Any]) -> Path:
    """The seed's archive (:func:`spacy_dtn.archive.write_complement` of ``--target`` for the
    seed and ``--fraction``), written once: the train sentences nobody labelled for this seed,
    and nothing of dev or test, which are other files."""
    from ...archive import write_complement

    path = seed_archive(run)
    with _ARCHIVE_LOCK:
        if not path.exists():
            partial = path.with_suffix(".partial")
            write_complement(options["target"], partial, options["fraction"], run.seed)
            partial.replace(path)
    return path


def unlabeled_path(run: Run, options: Dict[str, Any]) -> Optional[str]:
    """A run's ``[paths] unlabeled``: ``--unlabeled``, its seed's complement, or None."""
    if options.get("archive_complement"):
        return str(seed_archive(run))
    return options.get("unlabeled")


def transformer_width(transformer: Optional[str]) -> Optional[int]:
    """The hidden size in a local model folder's ``config.json``; None for a hub name."""
    if not transformer:
        return None
    config = Path(transformer) / "config.json"
    if not config.is_file():
        return None
    width = srsly.read_json(config).get("hidden_size")
    return int(width) if width else None


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) keeps the hub out of reach."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def train_command(run: Run, options: Dict[str, Any]) -> List[str]:
    """``spacy train`` for one run: its config, the shared paths and budget, the seed.

    The seed is ``system.seed`` (training, batcher) and ``corpora.train.seed`` (the target
    subsample of ``corpora.train.target_fraction``), so one number fixes both. A config with
    ``[paths] transformer`` gets ``options["transformer"]`` (when given; else its own
    default), and one with ``[vars] transformer_width`` that model folder's hidden size. A
    config with ``[paths] unlabeled`` gets the archive (:func:`unlabeled_path`), and a train
    reader with ``held_out`` the dev and test files.
    """
    from spacy.util import load_config

    config, overrides = split_config(run.config)
    loaded = load_config(config, interpolate=False)
    paths = loaded.get("paths", {})
    cmd = [sys.executable, "-m", "spacy", "train", config, "--output", str(run.run_dir)]
    values = {"target": options["target"], "source": options["source"], "dev": options["dev"],
              "vectors": options["vectors"]}
    for key, value in values.items():
        if key in paths:
            cmd += [f"--paths.{key}", "null" if value is None else str(value)]
    if "pretrained" in paths and run.pretrained is not None:
        cmd += ["--paths.pretrained", str(run.pretrained / "model-best")]
    if "teacher" in paths and run.teacher is not None:
        cmd += ["--paths.teacher", str(run.teacher / "model-best")]
    if "unlabeled" in paths:
        unlabeled = unlabeled_path(run, options)
        cmd += ["--paths.unlabeled", "null" if unlabeled is None else unlabeled]
    if "held_out" in loaded.get("corpora", {}).get("train", {}):
        # dev and test never train, whatever the archive holds (spacy_dtn.self_training)
        cmd += ["--corpora.train.held_out", f"{options['dev']},{options['test']}"]
    cmd += source_overrides(loaded, options)
    transformer = options.get("transformer")
    if transformer and "transformer" in paths:
        cmd += ["--paths.transformer", str(transformer)]
        width = transformer_width(transformer)
        if width and "transformer_width" in loaded.get("vars", {}):
            cmd += ["--vars.transformer_width", str(width)]
    cmd += [
        "--system.seed", str(run.seed),
        "--corpora.train.seed", str(run.seed),
        "--corpora.train.target_fraction", str(options["fraction"]),
        "--training.max_steps", str(options["max_steps"]),
        "--training.eval_frequency", str(options["eval_frequency"]),
        "--training.patience", str(options["patience"]),
        "--corpora.dev.limit", str(options["dev_limit"]),
        "--gpu-id", str(options["gpu_id"]),
    ]
    return cmd + overrides


def source_overrides(loaded: Dict[str, Any], options: Dict[str, Any]) -> List[str]:
    """Several sources' task names and the label map, for the configs that read them.

    With more than one source each is its own task, named by ``options["source_names"]``
    (``corpora.train.source_name``). ``options["label_map"]`` (a table) goes to every
    component whose model ties labels (``label_map`` not null) and to a pooling reader.
    """
    cmd: List[str] = []
    reader = loaded.get("corpora", {}).get("train", {})
    if reader.get("source") is None:  # a config that reads no source (baseline, ner)
        return cmd
    names = options.get("source_names")
    if names and len(names) > 1 and "source_name" in reader:
        cmd += ["--corpora.train.source_name", ",".join(names)]
    label_map = options.get("label_map")
    if not label_map:
        return cmd
    value = json.dumps(label_map, sort_keys=True)
    for name, component in loaded.get("components", {}).items():
        if component.get("model", {}).get("label_map") is not None:
            cmd += [f"--components.{name}.model.label_map", value]
    if "label_map" in reader:
        cmd += ["--corpora.train.label_map", value]
    return cmd


def parse_label_map(entries: Sequence[str]) -> Optional[Dict[str, str]]:
    """``--label-map SOURCE_LABEL=TARGET_LABEL`` (repeated) as one table; None for none."""
    table: Dict[str, str] = {}
    for entry in entries:
        source_label, sep, target_label = entry.partition("=")
        if not sep or not source_label.strip() or not target_label.strip():
            raise CompareError(
                f"--label-map: expected SOURCE_LABEL=TARGET_LABEL, got {entry!r}"
            )
        table[source_label.strip()] = target_label.strip()
    return table or None


def parse_taught_by(entries: Sequence[str]) -> Dict[str, str]:
    """``--taught-by NAME=TEACHER`` (repeated): which system's model-best of the same seed
    labels a system's archive or completes its sources, beside the known ones."""
    table: Dict[str, str] = {}
    for entry in entries:
        name, sep, teacher = entry.partition("=")
        if not sep or not name.strip() or not teacher.strip():
            raise CompareError(f"--taught-by: expected NAME=TEACHER, got {entry!r}")
        table[name.strip()] = teacher.strip()
    return table


def evaluate_command(run: Run, options: Dict[str, Any]) -> List[str]:
    return [sys.executable, "-m", "spacy_dtn", "evaluate", str(run.run_dir / "model-best"),
            str(options["test"]), "--output", str(run.run_dir / SCORES_FILE),
            "--gpu-id", str(options["gpu_id"])]


def run_subprocess(cmd: List[str], log_path: Path, threads: int) -> None:
    """Run one command with ``threads`` PyTorch/OpenMP threads, its output appended to a log."""
    env = dict(os.environ)
    if threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    with log_path.open("a", encoding="utf8") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise CompareError(f"command failed (exit {code}); see {log_path}: {shlex.join(cmd)}")


def execute_run(run: Run, options: Dict[str, Any],
                runner: Callable[[List[str], Path, int], None] = run_subprocess) -> Dict[str, Any]:
    """Train and score one run unless it is done; returns its ``done.json``."""
    done = run.run_dir / DONE_FILE
    if done.exists():
        return srsly.read_json(done)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    log = run.run_dir / "train.log"
    log.write_text("", encoding="utf8")
    if options.get("archive_complement") and reads_path(run.config, "unlabeled"):
        write_seed_archive(run, options)
    msg.info(f"{run.label}: training ({log})")
    start = time.time()
    runner(train_command(run, options), log, options["threads"])
    train_seconds = time.time() - start
    best = run.run_dir / "model-best"
    if not best.is_dir():
        raise CompareError(f"{run.label}: spaCy's training wrote no {best}")
    runner(evaluate_command(run, options), log, options["threads"])
    meta = srsly.read_json(best / "meta.json")
    info = {
        "system": run.system, "config": run.config, "seed": run.seed,
        "train_seconds": round(train_seconds, 1),
        "dev_ents_f": float(meta.get("performance", {}).get("ents_f") or 0.0),
        "test": srsly.read_json(run.run_dir / SCORES_FILE),
    }
    srsly.write_json(done, info)
    return info
