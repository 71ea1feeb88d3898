"""``python -m spacy_dtn compare``: DTN against spaCy's own ``ner``, over seeds, at convergence.

The one question a user asks before switching is whether ``dtn_ner`` with transfer beats what
they already have: spaCy's ``ner`` trained on the same target sentences. One seed answers
nothing (over three 10 % subsamples of BC5CDR the sd of test F1 is 1.3 to 2.2), so every
system is trained for each seed, and the seed drives both the target subsample and the
training. Each run is spaCy's own ``spacy train`` (early stopping on the full target dev set)
in its own process, so that ``--jobs 2`` uses two cores with one PyTorch thread each, and
each score is ``python -m spacy_dtn evaluate`` on the target test set.

Systems over a transformer (``dtn_trf``, ``baseline_trf``, ``ner_trf``: configs with a
``[paths] transformer``) get ``--transformer`` as ``--paths.transformer``: a Hugging Face model
name or a local model folder (``scripts/transformer_path.py`` finds all-MiniLM-L6-v2). For a
local folder its ``config.json`` ``hidden_size`` also goes to configs with a
``[vars] transformer_width`` (the width the DTN sizes its word encoder for). The environment
reaches every run as it is: ``HF_HUB_OFFLINE=1`` keeps the Hugging Face libraries off the
network, and then a transformer that is not a local folder is an error before anything is
trained.

Layout of ``--output-dir``::

    runs/seed-<s>/<system>/model-best, train.log, test_scores.json, done.json
    compare.json    setting, seeds, per system: F1 per seed, mean, sd, P/R, per-type F1
    compare.md      the same as a markdown table, with the protocol and command
    compare.png     test F1 per system and seed; curves.png: dev F1 by step (spacy_dtn.charts)

A run with ``done.json`` is not trained again: stop and rerun the same command to resume, or
add seeds and systems later. Nothing machine-specific (absolute paths, host names) is written
to ``compare.json``: paths are kept as given, relative to the working directory.
"""
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import srsly
from wasabi import msg

#: The systems of the comparison and the config each trains, unless ``--system`` says otherwise.
DEFAULT_SYSTEMS = {
    "dtn": "configs/dtn.cfg",
    "dtn_hs": "configs/dtn_hs.cfg",
    "baseline": "configs/baseline.cfg",
    "ner": "configs/ner_efficiency.cfg",
}
#: Systems known by name beyond the defaults: the DTN on spaCy's own ner
#: (``dtn_transition_ner``), without and with label-mapped output sharing; the BiLSTM DTN
#: and its baseline with the CRF output (``decoder = "crf"``); over a transformer
#: (``--transformer``): the DTN, its baseline and spaCy's own transformer ``ner``.
KNOWN_SYSTEMS = {
    **DEFAULT_SYSTEMS,
    "dtn_crf": "configs/dtn.cfg --components.dtn_ner.model.decoder crf",
    "baseline_crf": "configs/baseline.cfg --components.dtn_ner.model.decoder crf",
    "dtn_partial": "configs/dtn.cfg --components.dtn_ner.model.unannotated unknown",
    "dtn_hs_partial": "configs/dtn_hs.cfg --components.dtn_ner.model.unannotated unknown",
    "ner_pooled": "configs/ner_pooled.cfg",
    "ner_pool_ft": "configs/ner_pool_ft.cfg",
    "dtn_partial_ft": "configs/dtn_ft.cfg",
    "ner_filled": "configs/ner_pooled.cfg",
    "ner_fill_ft": "configs/ner_pool_ft.cfg",
    "dtn_filled": "configs/dtn.cfg",
    "dtn_tb": "configs/dtn_tb.cfg",
    "dtn_tb_ta": "configs/dtn_tb.cfg --components.dtn_transition_ner.model.label_map name",
    "dtn_trf": "configs/dtn_trf.cfg",
    "baseline_trf": "configs/baseline_trf.cfg",
    "ner_trf": "configs/ner_trf.cfg",
}
#: Systems that train on from another system's model-best of the same seed (its
#: ``[paths] pretrained``): stock spaCy's pre-train on the pool, then fine-tune on the target.
#: Any other system named ``X_ft`` whose config has ``[paths] pretrained`` trains on ``X``.
PRETRAINED_BY = {"ner_pool_ft": "ner_pooled", "ner_fill_ft": "ner_filled"}
#: Systems whose sources are completed by another system's model-best of the same seed (its
#: ``[paths] teacher``, ``spacy_dtn.teacher``): spaCy ``ner`` trained on the target alone.
TAUGHT_BY = {"ner_filled": "ner", "dtn_filled": "ner"}


def pretrained_by(name: str, config: str) -> Optional[str]:
    """The system whose model-best ``name`` trains on, or None (see :data:`PRETRAINED_BY`)."""
    if name in PRETRAINED_BY:
        return PRETRAINED_BY[name]
    if name.endswith("_ft") and reads_path(config, "pretrained"):
        return name[: -len("_ft")]
    return None
DONE_FILE = "done.json"
SCORES_FILE = "test_scores.json"


class CompareError(Exception):
    """A problem with the command's input: reported as one line, exit code 1."""


@dataclass
class Run:
    """One training: a system (its config) under one seed."""

    system: str
    config: str
    seed: int
    run_dir: Path
    #: The run whose model-best this one trains on (:func:`pretrained_by`), or None.
    pretrained: Optional[Path] = None
    #: The run whose model-best completes this one's sources (:data:`TAUGHT_BY`), or None.
    teacher: Optional[Path] = None

    @property
    def waits_for(self) -> List[Path]:
        """The runs that must finish first."""
        return [path for path in (self.pretrained, self.teacher) if path is not None]

    @property
    def label(self) -> str:
        return f"seed {self.seed} {self.system}"


# ------------------------------------------------------------------ statistics (pure)


def mean_sd(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """Mean and sample standard deviation (n - 1; None with fewer than two values)."""
    values = list(values)
    if not values:
        return {"mean": None, "sd": None}
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "sd": sd}


def summarize(
    scores_by_seed: Dict[int, Dict[str, Any]], dev_by_seed: Dict[int, float]
) -> Dict[str, Any]:
    """One system's row: per-seed lists (in seed order, percent) and their mean ± sd.

    ``scores_by_seed``: the ``evaluate`` JSON of each seed's model-best on the test set
    (fractions); ``dev_by_seed``: each seed's best dev ``ents_f`` (fraction).
    """
    seeds = sorted(scores_by_seed)
    row: Dict[str, Any] = {"seeds": seeds}
    for key in ("precision", "recall", "f1"):
        values = [100 * scores_by_seed[s]["micro"][key] for s in seeds]
        short = {"precision": "p", "recall": "r", "f1": "f1"}[key]
        row[short] = values
        stats = mean_sd(values)
        if key == "f1":
            row.update(stats)
        else:
            row[f"{short}_mean"] = stats["mean"]
    dev = [100 * dev_by_seed[s] for s in seeds if s in dev_by_seed]
    row["dev_f1"] = dev
    row["dev_mean"] = mean_sd(dev)["mean"]
    labels = sorted({label for s in seeds for label in scores_by_seed[s]["per_type"]})
    per_type = {}
    for label in labels:
        values = [100 * scores_by_seed[s]["per_type"].get(label, {"f1": 0.0})["f1"] for s in seeds]
        per_type[label] = {"f1": values, **mean_sd(values)}
    row["per_type"] = per_type
    return row


def _fmt(value: Optional[float], sd: Optional[float] = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" ± {sd:.2f}" if sd is not None else "")


def format_markdown(result: Dict[str, Any]) -> str:
    """compare.md: the protocol, then one row per system (test P/R/F1, per type, dev F1)."""
    setting = result["setting"]
    systems = result["systems"]
    labels = sorted({label for row in systems.values() for label in row["per_type"]})
    lines = [f"# {setting['source']} → {setting['target']} {setting['fraction_pct']} %", ""]
    lines.append(
        f"Seeds {', '.join(map(str, result['seeds']))} (each seed: the target subsample and "
        "the training); test scores of each run's best target-dev checkpoint; mean ± sample "
        "sd over seeds; strict entity F1 in percent."
    )
    lines.append("")
    for key in ("target_train", "source_train", "label_map", "dev", "test", "vectors",
                "transformer",
                "max_steps", "eval_frequency", "patience", "dev_limit"):
        if key in ("transformer", "label_map") and not setting.get(key):
            continue  # no transformer system, no label map in this table
        lines.append(f"* {key}: `{setting.get(key)}`")
    configs = ", ".join(f"{name} `{row['config']}`" for name, row in systems.items())
    lines += [f"* configs: {configs}", f"* command: `{setting.get('command')}`"]
    lines += [f"* earlier command (rows marked *): `{command}`"
              for command in setting.get("earlier_commands", [])]
    lines.append("")
    header = ["system", "test P", "test R", "test F1"] + labels + ["dev F1", "F1 per seed",
                                                                  "train s (mean)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * 1 + "---:|" * (len(header) - 1))
    for name, row in systems.items():
        per_seed = " / ".join(f"{v:.2f}" for v in row["f1"])
        if row["seeds"] != result["seeds"]:
            per_seed += f" (seeds {', '.join(map(str, row['seeds']))} only)"
        f1 = "**" + _fmt(row["mean"], row["sd"]) + "**"
        mark = " *" if row.get("earlier_run") else ""
        cells = [name + mark, _fmt(row["p_mean"]), _fmt(row["r_mean"]), f1]
        cells += [_fmt(row["per_type"].get(label, {}).get("mean"),
                       row["per_type"].get(label, {}).get("sd")) for label in labels]
        train_s = row.get("train_seconds") or []
        cells += [_fmt(row["dev_mean"]), per_seed,
                  f"{statistics.fmean(train_s):.0f}" if train_s else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ runs


def parse_systems(entries: Sequence[str]) -> Dict[str, str]:
    """``--system NAME`` (a default system) or ``--system NAME=CONFIG``; order kept.

    CONFIG may carry ``spacy train`` overrides after the path, e.g.
    ``dtn_tb_ta="configs/dtn_tb.cfg --components.dtn_transition_ner.model.label_map name"``:
    a variant without a copy of the config. The row's ``config`` records them.
    """
    systems: Dict[str, str] = {}
    for entry in entries:
        name, _, config = entry.partition("=")
        name = name.strip()
        if not config:
            if name not in KNOWN_SYSTEMS:
                raise CompareError(
                    f"unknown system {name!r}: use one of {', '.join(KNOWN_SYSTEMS)} or "
                    "NAME=CONFIG (a training config whose train reader is "
                    "spacy_dtn.TransferCorpus.v1)"
                )
            config = KNOWN_SYSTEMS[name]
        systems[name] = config
    return systems


def split_config(spec: str) -> Tuple[str, List[str]]:
    """A system's config path and its ``spacy train`` overrides (see :func:`parse_systems`)."""
    path, *overrides = shlex.split(spec)
    return path, overrides


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise CompareError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise CompareError("--seeds: no seed given")
    return sorted(dict.fromkeys(seeds))


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


def reads_path(config: str, key: str) -> bool:
    """Whether a system's config takes ``--paths.KEY``."""
    from spacy.util import load_config

    path = split_config(config)[0]
    return key in load_config(path, interpolate=False).get("paths", {})


def reads_transformer(config: str) -> bool:
    """Whether a system's config takes ``--paths.transformer``."""
    return reads_path(config, "transformer")


def train_command(run: Run, options: Dict[str, Any]) -> List[str]:
    """``spacy train`` for one run: its config, the shared paths and budget, the seed.

    The seed is ``system.seed`` (training, batcher) and ``corpora.train.seed`` (the target
    subsample of ``corpora.train.target_fraction``), so one number fixes both. A config with
    ``[paths] transformer`` gets ``options["transformer"]`` (when given; else its own
    default), and one with ``[vars] transformer_width`` that model folder's hidden size.
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


def check_transformer(systems: Dict[str, str], transformer: Optional[str]) -> None:
    """Fail before training when a transformer system cannot load its model offline."""
    needing = [name for name, config in systems.items() if reads_transformer(config)]
    if not needing or not offline():
        return
    if not transformer:
        raise CompareError(
            f"--transformer is needed for {', '.join(needing)}: HF_HUB_OFFLINE is set, so the "
            "configs' hub default cannot be fetched (give a local model folder: python "
            "scripts/transformer_path.py prints one)"
        )
    if not (Path(transformer) / "config.json").is_file():
        raise CompareError(
            f"--transformer: {transformer} is not a local model folder (no config.json) and "
            "HF_HUB_OFFLINE is set"
        )


def run_compare(
    systems: Dict[str, str],
    seeds: Sequence[int],
    output_dir: Path,
    options: Dict[str, Any],
    jobs: int = 1,
    runner: Callable[[List[str], Path, int], None] = run_subprocess,
    train: bool = True,
) -> Dict[str, Any]:
    """Run (or resume) every system × seed, then write compare.json and compare.md.

    train: False reports the runs finished so far (e.g. while another process trains the
    rest); a system's row then lists the seeds it has (``seeds`` in its row).
    """
    for key in ("target", "dev", "test"):
        if not Path(options[key]).exists():
            raise CompareError(f"--{key}: no such file {options[key]}")
    for source in (options.get("source") or "").split(","):
        if source and not Path(source).exists():
            raise CompareError(f"--source: no such file {source}")
    if options.get("vectors") and not Path(options["vectors"]).exists():
        raise CompareError(f"--vectors: no such path {options['vectors']}")
    for name, config in systems.items():
        if not Path(split_config(config)[0]).is_file():
            raise CompareError(f"system {name}: config not found: {split_config(config)[0]}")
    check_transformer(systems, options.get("transformer"))
    firsts = {name: pretrained_by(name, config) for name, config in systems.items()}
    for name, first in firsts.items():
        if first is not None and first not in systems:
            raise CompareError(f"system {name} trains on {first}'s model: add --system {first}")
    teachers = {name: TAUGHT_BY.get(name) for name in systems}
    for name, teacher in teachers.items():
        if teacher is not None and teacher not in systems:
            raise CompareError(f"system {name} is taught by {teacher}: add --system {teacher}")

    def run_dir(seed: int, name: str) -> Path:
        return output_dir / "runs" / f"seed-{seed}" / name

    runs = [Run(name, config, seed, run_dir(seed, name),
                run_dir(seed, firsts[name]) if firsts[name] else None,
                run_dir(seed, teachers[name]) if teachers[name] else None)
            for seed in seeds for name, config in systems.items()]
    # the runs others wait for go first: teachers, then what is pre-trained, then the rest
    depth = {run.run_dir: 0 for run in runs}
    for _ in runs:
        for run in runs:
            depth[run.run_dir] = max([0, *(depth[p] + 1 for p in run.waits_for)])
    runs.sort(key=lambda run: depth[run.run_dir])
    results: Dict[str, Dict[int, Dict[str, Any]]] = {name: {} for name in systems}
    todo = [run for run in runs if not (run.run_dir / DONE_FILE).exists()]
    for run in runs:
        if run not in todo:
            results[run.system][run.seed] = srsly.read_json(run.run_dir / DONE_FILE)
    if len(todo) < len(runs):
        msg.info(f"{len(runs) - len(todo)} of {len(runs)} runs done before (resumed)")
    if not train:
        if todo:
            msg.warn(f"report only: {len(todo)} of {len(runs)} runs not finished, left out")
        todo = []
    started = time.time()
    finished = {run.run_dir: threading.Event() for run in runs}
    for run in runs:
        if run not in todo:
            finished[run.run_dir].set()

    def train_one(run: Run) -> Dict[str, Any]:
        try:
            for first in run.waits_for:
                finished[first].wait()
                if not (first / DONE_FILE).exists():
                    raise CompareError(f"{run.label}: {first} did not finish")
            return execute_run(run, options, runner)
        finally:
            finished[run.run_dir].set()

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {}
        for run in todo:
            futures[pool.submit(train_one, run)] = run
        for k, future in enumerate(as_completed(futures), 1):
            run = futures[future]
            info = future.result()
            results[run.system][run.seed] = info
            elapsed = time.time() - started
            eta = elapsed / k * (len(todo) - k)
            msg.good(
                f"[{k}/{len(todo)}] {run.label}: dev F1 {100 * info['dev_ents_f']:.2f}, test "
                f"F1 {100 * info['test']['micro']['f1']:.2f} ({info['train_seconds']:.0f} s; "
                f"about {eta / 60:.0f} min left)"
            )
    result = aggregate(systems, seeds, results, options)
    result = keep_earlier_rows(result, output_dir / "compare.json")
    output_dir.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_dir / "compare.json", result)
    (output_dir / "compare.md").write_text(format_markdown(result), encoding="utf8")
    from spacy_dtn.charts import write_charts  # compare.png, curves.png (needs matplotlib)
    write_charts(result, output_dir)
    return result


def aggregate(
    systems: Dict[str, str],
    seeds: Sequence[int],
    results: Dict[str, Dict[int, Dict[str, Any]]],
    options: Dict[str, Any],
) -> Dict[str, Any]:
    """compare.json: the setting, the seeds and one summarized row per system."""
    rows = {}
    for name, config in systems.items():
        by_seed = results[name]
        if not by_seed:
            continue
        row = summarize({s: info["test"] for s, info in by_seed.items()},
                        {s: info["dev_ents_f"] for s, info in by_seed.items()})
        row["config"] = config
        row["train_seconds"] = [by_seed[s]["train_seconds"] for s in sorted(by_seed)]
        rows[name] = row
    setting = {
        "source": options["source_name"], "target": options["target_name"],
        "fraction": options["fraction"], "fraction_pct": round(100 * options["fraction"], 4),
        "target_train": options["target"], "source_train": options["source"],
        "source_tasks": options.get("source_names"), "label_map": options.get("label_map"),
        "dev": options["dev"], "test": options["test"], "vectors": options["vectors"],
        "transformer": options.get("transformer"),
        "max_steps": options["max_steps"], "eval_frequency": options["eval_frequency"],
        "patience": options["patience"], "dev_limit": options["dev_limit"],
        "threads_per_run": options["threads"], "jobs": options.get("jobs"),
        "command": options.get("command"),
    }
    return {"setting": setting, "seeds": list(seeds), "systems": rows}


#: The keys of ``setting`` that must agree for two runs of compare to share one table.
PROTOCOL_KEYS = ("source", "target", "fraction", "target_train", "source_train", "dev", "test",
                 "label_map", "vectors", "transformer", "max_steps", "eval_frequency", "patience",
                 "dev_limit")


def keep_earlier_rows(result: Dict[str, Any], earlier_path: Path) -> Dict[str, Any]:
    """Carry over the rows of an earlier ``compare.json`` for systems this run did not train.

    A run with ``--system dtn_tb`` into a results folder that already holds dtn, baseline and
    ner adds its row rather than dropping theirs. The earlier rows are marked
    (``"earlier_run": true``) and its command kept in ``setting["earlier_commands"]``; an
    earlier file of another setting or protocol is an error, not a merge.
    """
    if not earlier_path.exists():
        return result
    earlier = srsly.read_json(earlier_path)
    carried = {name: row for name, row in earlier.get("systems", {}).items()
               if name not in result["systems"]}
    if not carried:
        return result
    old, new = earlier["setting"], result["setting"]
    differ = [key for key in PROTOCOL_KEYS if old.get(key) != new.get(key)]
    if differ or earlier.get("seeds") != result["seeds"]:
        what = ", ".join(differ) or "seeds"
        raise CompareError(
            f"{earlier_path} holds another setting ({what} differ) with rows for "
            f"{', '.join(carried)}: give another --output-dir or train those systems too"
        )
    systems = dict(result["systems"])
    for name, row in carried.items():
        systems[name] = {**row, "earlier_run": True}
    commands = list(old.get("earlier_commands", []))
    if old.get("command") and old["command"] not in commands:
        commands.append(old["command"])
    return {**result, "setting": {**new, "earlier_commands": commands}, "systems": systems}


def default_results_name(
    source: Optional[str], target: str, fraction: float, suffix: Optional[str] = None
) -> str:
    """``ncbi-disease-to-bc5cdr-10pct``: where a setting's results live in ``results/``.

    suffix: a family of systems kept in its own table, e.g. ``trf``:
    ``ncbi-disease-to-bc5cdr-10pct-trf``.
    """
    pct = f"{100 * fraction:g}"
    return f"{source or 'none'}-to-{target}-{pct}pct" + (f"-{suffix}" if suffix else "")
