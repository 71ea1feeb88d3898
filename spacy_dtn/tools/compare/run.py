"""The comparison itself: every run (in parallel jobs, pretraining and teaching runs first),
its results gathered and written as ``compare.json`` and ``compare.md``."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import srsly
from wasabi import msg

from ..charts import write_charts
from .commands import execute_run, offline, run_subprocess
from .stats import format_markdown, summarize
from .systems import (DONE_FILE, TAUGHT_BY, CompareError, Run, pretrained_by, reads_path,
                      reads_transformer, split_config)


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


def check_unlabeled(systems: Dict[str, str], options: Dict[str, Any]) -> None:
    """Fail before training when a self-training system has no archive, or two are given."""
    if options.get("unlabeled") and options.get("archive_complement"):
        raise CompareError("give --unlabeled PATH or --archive-complement, not both")
    if options.get("unlabeled") and not Path(options["unlabeled"]).exists():
        raise CompareError(f"--unlabeled: no such file or folder {options['unlabeled']}")
    needing = [name for name, config in systems.items() if reads_path(config, "unlabeled")]
    if needing and not (options.get("unlabeled") or options.get("archive_complement")):
        raise CompareError(
            f"{', '.join(needing)} read an unlabeled archive: give --unlabeled PATH, or "
            "--archive-complement (each seed's target train sentences outside its fraction)"
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
    check_unlabeled(systems, options)
    firsts = {name: pretrained_by(name, config) for name, config in systems.items()}
    for name, first in firsts.items():
        if first is not None and first not in systems:
            raise CompareError(f"system {name} trains on {first}'s model: add --system {first}")
    taught_by = {**TAUGHT_BY, **(options.get("taught_by") or {})}
    teachers = {name: taught_by.get(name) for name in systems}
    for name, config in systems.items():
        if teachers[name] is None and reads_path(config, "unlabeled"):
            raise CompareError(f"system {name} reads an unlabeled archive but has no teacher: "
                               f"add --taught-by {name}=SYSTEM (e.g. ner)")
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
    write_charts(result, output_dir)  # compare.png, curves.png (needs matplotlib)
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
        "unlabeled": ("complement of each seed's subsample" if options.get("archive_complement")
                      else options.get("unlabeled")),
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
