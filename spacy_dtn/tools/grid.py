"""``python -m spacy_dtn grid``: the paper's Table 1 for one transfer setting.

The DTN paper's claim is that one DTN training reaches what an exhaustive search over the 27
TTN architectures finds. Checking it means training every sharing setting under *the same*
budget and early stopping, then scoring all of them on the same test set with the same
measure. So this module only orchestrates: each run is spaCy's own training
(:func:`spacy.cli.train.train`, with config overrides, never a copied loop), each score is
:func:`spacy_dtn.tools.evaluate.evaluate_docs`, and the table arithmetic lives in small
pure functions (:func:`rank_ttn`, :func:`ttn_average`, :func:`table_rows`,
:func:`format_table`) that are tested without training anything.

Layout of ``--output-dir``::

    runs/<sharing>/model-best, model-last, done.json   one folder per setting ("ner" for spaCy's)
    results.json                                       protocol + test scores of every run
    table.md                                           the Table 1 layout, protocol in its header

A run whose ``model-best`` and ``done.json`` exist is not trained again (resume after a crash
or add settings later); its test scores are recomputed, which is cheap next to training.
"""
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import srsly
from wasabi import msg

from ..nn.schemes import SHARING_CHOICES, TTN_CODES

NER_RUN = "ner"  # the run folder / results key of spaCy's own ``ner`` on the target alone
DONE_FILE = "done.json"
SCORES_FILE = "test_scores.json"
STD_KIND = "sample"  # the ± of the TTN average: sample standard deviation (n - 1)
ALL_SETTINGS = list(TTN_CODES) + ["dtn", "dtn_hs", "baseline"]


class GridError(Exception):
    """A problem with the command's input: reported as one line, exit code 1."""


# ------------------------------------------------------------------ table arithmetic (pure)


def f1_of(scores: Dict[str, Any]) -> float:
    return float(scores["micro"]["f1"])


def rank_ttn(results: Dict[str, Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    """The TTN runs (three-letter codes only) sorted by test micro F1, best first.

    Ties are broken by the code so that the order does not depend on dict order.
    """
    rows = [(name, scores) for name, scores in results.items() if name in TTN_CODES]
    return sorted(rows, key=lambda row: (-f1_of(row[1]), row[0]))


def best_and_worst(
    ranked: Sequence[Tuple[str, Dict[str, Any]]], k: int = 3
) -> Tuple[List[Tuple[str, Dict[str, Any]]], List[Tuple[str, Dict[str, Any]]]]:
    """The ``k`` best and the ``k`` worst TTN rows, worst listed last (as in the paper).

    With fewer than ``2k`` TTN runs a run appears once only: in the best rows first, and the
    worst rows take what is left (with 4 runs: 3 best, 1 worst).
    """
    best = list(ranked[:k])
    n_worst = max(0, min(k, len(ranked) - len(best)))
    worst = list(ranked[len(ranked) - n_worst:]) if n_worst else []
    return best, worst


def ttn_average(
    results: Dict[str, Dict[str, Any]]
) -> Optional[Dict[str, float]]:
    """Mean precision, recall and F1 over the TTN rows only, and the sample std of F1.

    The paper writes "Avg. … 80.06 ± 1.04" without saying which deviation; we use the sample
    standard deviation (``statistics.stdev``, n - 1 in the denominator), ``nan`` with one run.
    None when there is no TTN run. Values are fractions (0-1), like ``evaluate_docs``.
    """
    rows = [scores for _, scores in rank_ttn(results)]
    if not rows:
        return None
    f1s = [f1_of(s) for s in rows]
    return {
        "precision": statistics.fmean(s["micro"]["precision"] for s in rows),
        "recall": statistics.fmean(s["micro"]["recall"] for s in rows),
        "f1": statistics.fmean(f1s),
        "f1_std": statistics.stdev(f1s) if len(f1s) > 1 else math.nan,
        "n": len(rows),
    }


def table_rows(results: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows of Table 1, in the paper's order, for whatever runs are present.

    Each row: ``section`` (None or a heading), ``model``, ``precision``, ``recall``, ``f1``
    (fractions) and, for the average, ``f1_std``. Missing runs give no row.
    """
    rows: List[Dict[str, Any]] = []

    def add(model: str, scores: Dict[str, Any], section: Optional[str] = None) -> None:
        micro = scores["micro"]
        rows.append(dict(section=section, model=model, precision=micro["precision"],
                         recall=micro["recall"], f1=micro["f1"]))

    if "baseline" in results:
        add("Baseline", results["baseline"])
    best, worst = best_and_worst(rank_ttn(results))
    for name, scores in best:
        add(name, scores, "Highest performance TTN")
    for name, scores in worst:
        add(name, scores, "Lowest performance TTN")
    average = ttn_average(results)
    if average is not None:
        rows.append(dict(section=None, model=f"Avg. ({average['n']} TTN)", **{
            key: average[key] for key in ("precision", "recall", "f1", "f1_std")}))
    for key, label in (("dtn", "DTN"), ("dtn_hs", "DTN (HS)"), (NER_RUN, "spaCy ner")):
        if key in results:
            add(label, results[key])
    return rows


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def format_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown: Model | Precision | Recall | F1 in percent, two decimals; sections as rows."""
    lines = ["| Model | Precision | Recall | F1 |", "|---|---:|---:|---:|"]
    section = None
    for row in rows:
        if row["section"] and row["section"] != section:
            lines.append(f"| *{row['section']}* | | | |")
        section = row["section"]
        f1 = _pct(row["f1"])
        if "f1_std" in row:
            std = row["f1_std"]
            f1 += " ± " + ("n/a" if math.isnan(std) else _pct(std))
        p, r = _pct(row["precision"]), _pct(row["recall"])
        lines.append(f"| {row['model']} | {p} | {r} | {f1} |")
    return "\n".join(lines)


def format_protocol(protocol: Dict[str, Any]) -> str:
    """The header of table.md: everything needed to rerun it and to judge it."""
    lines = ["Protocol (every run the same):", ""]
    for key in ("target", "source", "dev", "test", "fraction", "seed", "max_steps",
                "eval_frequency", "patience", "vectors", "config", "ner_config",
                "torch_threads"):
        lines.append(f"* {key}: `{protocol.get(key)}`")
    lines += [
        "* early stopping: best target-dev `ents_f` checkpoint (`model-best`) of spaCy's "
        "training loop; the baseline and spaCy ner train on the target alone, with the same "
        "number of steps",
        f"* scores: strict IOBES entity micro P/R/F1 (seqeval) on the test set; ± is the "
        f"{STD_KIND} standard deviation of F1 over the TTN rows",
        "",
        f"Command: `{protocol.get('command')}`",
    ]
    return "\n".join(lines)


def format_markdown(results: Dict[str, Dict[str, Any]], protocol: Dict[str, Any]) -> str:
    title = f"# Transfer grid: {protocol.get('setting') or protocol.get('target')}"
    return "\n\n".join([title, format_protocol(protocol), format_table(table_rows(results))]) + "\n"


# ------------------------------------------------------------------ runs


def parse_settings(text: str) -> List[str]:
    """``"all"`` or a comma-separated list of sharing settings (checked, order kept)."""
    if text.strip() == "all":
        return list(ALL_SETTINGS)
    if text.strip() == "none":  # spaCy's ner only (e.g. a second process beside a running grid)
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SHARING_CHOICES]
    if unknown or not names:
        raise GridError(
            f"unknown sharing setting(s) {', '.join(unknown) or '(none given)'}: expected 'all' "
            f"or a comma-separated list of {', '.join(SHARING_CHOICES)}"
        )
    return list(dict.fromkeys(names))


def is_done(run_dir: Path) -> bool:
    return (run_dir / "model-best").is_dir() and (run_dir / DONE_FILE).exists()


def run_overrides(
    config_paths: Dict[str, str], sharing: Optional[str], options: Dict[str, Any]
) -> Dict[str, Any]:
    """The ``spacy train`` overrides of one run.

    ``config_paths`` are the ``[paths]`` of the config: only those it declares are set, so
    the ner config needs no ``source``. The baseline's and ner's source is null: they train on
    the target alone. ``sharing`` None: not a ``dtn_ner`` config (spaCy's ner).
    """
    overrides: Dict[str, Any] = {
        "training.max_steps": options["max_steps"],
        "training.eval_frequency": options["eval_frequency"],
        "training.patience": options["patience"],
        "training.seed": options["seed"],
        "corpora.train.target_fraction": options["fraction"],
        "corpora.train.seed": options["seed"],
    }
    values = {
        "target": options["target"],
        "source": None if sharing in (None, "baseline") else options["source"],
        "dev": options["dev"],
        "vectors": options["vectors"],
    }
    for key, value in values.items():
        if key in config_paths:
            overrides[f"paths.{key}"] = None if value is None else str(value)
    if sharing is not None:
        overrides["components.dtn_ner.model.sharing"] = sharing
    return overrides


def config_paths_of(config_path: Path) -> Dict[str, Any]:
    """The ``[paths]`` section of a config (checked to read the reader's contract)."""
    from spacy.util import load_config

    if not config_path.is_file():
        raise GridError(f"config not found: {config_path}")
    config = load_config(config_path, interpolate=False)
    reader = config.get("corpora", {}).get("train", {}).get("@readers")
    if reader != "spacy_dtn.TransferCorpus.v1":
        raise GridError(
            f"{config_path}: [corpora.train] must use spacy_dtn.TransferCorpus.v1 (it takes "
            f"the target fraction and seed), found {reader!r}"
        )
    return dict(config.get("paths", {}))


def spacy_train(
    config_path: Path, output_path: Path, overrides: Dict[str, Any], use_gpu: int
) -> None:
    """spaCy's own training (imported late: the table code must not need it)."""
    from spacy.cli.train import train

    train(config_path, output_path, overrides=overrides, use_gpu=use_gpu)


def train_run(
    name: str,
    run_dir: Path,
    config_path: Path,
    overrides: Dict[str, Any],
    use_gpu: int,
    train_fn: Callable[..., None] = spacy_train,
) -> bool:
    """Train one setting unless it is done; True when it trained. Writes ``done.json`` last."""
    if is_done(run_dir):
        return False
    start = time.time()
    train_fn(config_path, run_dir, overrides, use_gpu)
    if not (run_dir / "model-best").is_dir():
        raise GridError(f"run {name}: spaCy's training wrote no {run_dir / 'model-best'}")
    srsly.write_json(run_dir / DONE_FILE, {
        "sharing": name, "config": str(config_path), "overrides": overrides,
        "train_seconds": round(time.time() - start, 1),
    })
    return True


def evaluate_model(model_path: Path, gold_docs: List[Any], batch_size: int = 256) -> Dict[str, Any]:
    """Test scores of one ``model-best``: docs built from the gold words, ``evaluate_docs``."""
    import spacy

    from .evaluate import evaluate_docs, predict_on_gold

    nlp = spacy.load(model_path)
    preds = predict_on_gold(nlp, gold_docs, batch_size=batch_size)
    scores = evaluate_docs(preds, gold_docs)
    scores.pop("spacy", None)
    return scores


def cached_scores(run_dir: Path, test: str, trained: bool, compute: Callable[[], Dict[str, Any]]):
    """The run's test scores, computed once per trained model and test file.

    Scoring a model on a full test set is slow next to reading a file: a resumed grid (or two
    grid processes sharing one output folder, each with its own settings) reuses what is kept
    in ``test_scores.json`` unless the model was just (re)trained or the test file differs.
    """
    path = run_dir / SCORES_FILE
    if not trained and path.exists():
        kept = srsly.read_json(path)
        if kept.get("test") == str(test):
            return kept["scores"]
    scores = compute()
    srsly.write_json(path, {"test": str(test), "scores": scores})
    return scores


def run_grid(
    settings: Sequence[str],
    output_dir: Path,
    options: Dict[str, Any],
    config: Path,
    ner_config: Optional[Path],
    use_gpu: int = -1,
    train_fn: Callable[..., None] = spacy_train,
    evaluate_fn: Callable[[Path, List[Any]], Dict[str, Any]] = evaluate_model,
) -> Dict[str, Any]:
    """Train (or resume) every run, score each on the test set, write results.json/table.md."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    for key in ("target", "source", "dev", "test"):
        if not Path(options[key]).exists():
            raise GridError(f"--{key}: no such file {options[key]}")
    if options.get("vectors") and not Path(options["vectors"]).exists():
        raise GridError(f"--vectors: no such path {options['vectors']}")
    jobs = [(name, config, name) for name in settings]
    if ner_config is not None:
        jobs.append((NER_RUN, ner_config, None))
    paths_of = {path: config_paths_of(path) for path in {job[1] for job in jobs}}
    gold_docs = list(DocBin().from_disk(options["test"]).get_docs(Vocab()))
    results, train_info = {}, {}
    for k, (name, config_path, sharing) in enumerate(jobs, 1):
        run_dir = output_dir / "runs" / name
        msg.divider(f"grid run {k}/{len(jobs)}: {name}")
        overrides = run_overrides(paths_of[config_path], sharing, options)
        trained = train_run(name, run_dir, config_path, overrides, use_gpu, train_fn)
        if not trained:
            msg.info(f"{name}: done before ({run_dir / DONE_FILE}), not trained again")
        info = srsly.read_json(run_dir / DONE_FILE)
        results[name] = cached_scores(run_dir, options["test"], trained,
                                      lambda: evaluate_fn(run_dir / "model-best", gold_docs))
        train_info[name] = {"train_seconds": info.get("train_seconds"), "resumed": not trained}
        msg.good(f"{name}: test F1 {_pct(f1_of(results[name]))} ({k}/{len(jobs)} runs)")
    protocol = dict(options, config=str(config), ner_config=str(ner_config) if ner_config else None,
                    settings=list(settings), std=STD_KIND)
    out = {"protocol": protocol, "results": results, "runs": train_info,
           "table": table_rows(results)}
    srsly.write_json(output_dir / "results.json", _json_safe(out))
    markdown = format_markdown(results, protocol)
    (output_dir / "table.md").write_text(markdown, encoding="utf8")
    return out


def _json_safe(value: Any) -> Any:
    """NaN (a std of one run) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
