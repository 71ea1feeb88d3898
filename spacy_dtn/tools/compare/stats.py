"""The statistics of the comparison (pure): mean and sd over seeds per system, and the
markdown table."""
import statistics
from typing import Any, Dict, Optional, Sequence



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
                "transformer", "unlabeled",
                "max_steps", "eval_frequency", "patience", "dev_limit"):
        if key in ("transformer", "label_map", "unlabeled") and not setting.get(key):
            continue  # no transformer system, label map or archive in this table
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
