"""``python -m spacy_dtn grid``: the paper's Table 1 for one transfer setting, at convergence.

The DTN paper's claim is that one DTN training reaches what an exhaustive search over the 27
TTN architectures (I/H/S for the character encoder, word encoder and decoder) finds, so a
user need not search them. Checking it means training every fixed scheme under *the same*
protocol as the DTN, its no-transfer baseline and spaCy's ``ner``. That protocol is
``compare``'s, and so is the training: :func:`run_grid` hands the systems to
:func:`spacy_dtn.tools.compare.run_compare` (one orchestrator: the same runs folder,
``done.json`` markers, resume, ``--jobs``, seeds) and only adds the grid's own reading of the
results: Table 1, the claim checked in numbers, and a plot. The arithmetic is in small pure
functions over ``compare.json``'s rows, tested without training anything.

Layout of ``--output-dir`` (``compare``'s, plus three files)::

    runs/seed-<s>/<system>/...   compare's runs: ttn_<CODE>, dtn, dtn_hs, baseline, ner
    compare.json, compare.md     compare's table of every system (mean ± sd over seeds)
    grid.json                    Table 1's rows, the claim, how each run ended, the protocol
    table.md                     the same as markdown
    grid.png                     F1 per scheme, sorted, seed spread as error bars
"""
import math
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import srsly

from ..nn.schemes import TTN_CODES
from .charts import read_curve, save_figure, use_agg
from .compare import KNOWN_SYSTEMS, CompareError, run_compare, run_subprocess

#: The system name of a fixed TTN scheme: ``ttn_`` and its three-letter code.
TTN_PREFIX = "ttn_"
#: The grid's systems beside the 27 TTN codes (``compare``'s configs of the same names).
OTHER_SETTINGS = ("dtn", "dtn_hs", "baseline")
NER_SYSTEM = "ner"
DEFAULT_TTN_CONFIG = "configs/ttn.cfg"
#: The claim's thresholds (paper, section 5): the DTN within this many F1 points of the best
#: TTN scheme, and above the TTN average by at least one standard deviation (over codes).
WITHIN_BEST = 0.5


class GridError(CompareError):
    """A problem with the command's input: reported as one line, exit code 1."""


# ------------------------------------------------------------------ the systems


def parse_settings(text: str) -> List[str]:
    """``"all"`` (27 TTN codes, dtn, dtn_hs, baseline) or a comma-separated list, order kept."""
    if text.strip() == "all":
        return list(TTN_CODES) + list(OTHER_SETTINGS)
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in TTN_CODES and name not in OTHER_SETTINGS]
    if unknown or not names:
        raise GridError(
            f"--sharing: unknown setting(s) {', '.join(unknown) or '(none given)'}: expected "
            f"'all' or a comma-separated list of TTN codes (III ... SSS) and "
            f"{', '.join(OTHER_SETTINGS)}"
        )
    return names


def grid_systems(settings: Sequence[str], ttn_config: str = DEFAULT_TTN_CONFIG,
                 with_ner: bool = True) -> Dict[str, str]:
    """``compare``'s systems for the settings: a TTN code is ``ttn_CODE``, the TTN config with
    its ``sharing`` set; dtn, dtn_hs, baseline and ner are compare's systems of those names."""
    systems = {}
    for name in settings:
        if name in TTN_CODES:
            systems[TTN_PREFIX + name] = f"{ttn_config} --components.dtn_ner.model.sharing {name}"
        else:
            systems[name] = KNOWN_SYSTEMS[name]
    if with_ner:
        systems[NER_SYSTEM] = KNOWN_SYSTEMS[NER_SYSTEM]
    return systems


def code_of(system: str) -> Optional[str]:
    """The TTN code of a grid system (``ttn_HIS`` → ``HIS``); None for any other system."""
    code = system[len(TTN_PREFIX):] if system.startswith(TTN_PREFIX) else None
    return code if code in TTN_CODES else None


# ------------------------------------------------------------------ Table 1 (pure)


Rows = Dict[str, Dict[str, Any]]  # compare.json's "systems": name -> row (percent)


#: Which F1 of a row the claim reads: ``mean`` (test) or ``dev_mean`` (the best dev score).
TEST, DEV = "mean", "dev_mean"


def rank_ttn(systems: Rows, key: str = TEST) -> List[Tuple[str, Dict[str, Any]]]:
    """The TTN rows as (code, row), best mean F1 (``key``) first; ties broken by the code."""
    rows = [(code_of(name), row) for name, row in systems.items() if code_of(name)]
    return sorted(rows, key=lambda item: (-item[1][key], item[0]))


def best_and_worst(ranked: Sequence[Tuple[str, Any]], k: int = 3):
    """The ``k`` best and the ``k`` worst TTN rows, worst last (as in the paper); with fewer
    than ``2k`` rows each appears once, in the best rows first."""
    best = list(ranked[:k])
    n_worst = max(0, min(k, len(ranked) - len(best)))
    return best, list(ranked[len(ranked) - n_worst:]) if n_worst else []


def ttn_average(systems: Rows, key: str = TEST) -> Optional[Dict[str, Any]]:
    """Mean P, R and F1 over the TTN codes (each code its mean over seeds) and the sample
    standard deviation of F1 over the codes (the paper's "80.06 ± 1.04"); None without codes.
    With one code the sd is nan."""
    rows = [row for _, row in rank_ttn(systems, key)]
    if not rows:
        return None
    f1 = [row[key] for row in rows]
    return {
        "p": statistics.fmean(row["p_mean"] for row in rows),
        "r": statistics.fmean(row["r_mean"] for row in rows),
        "f1": statistics.fmean(f1),
        "sd_over_codes": statistics.stdev(f1) if len(f1) > 1 else math.nan,
        "n": len(rows),
    }


def _row(model: str, row: Dict[str, Any], section: Optional[str] = None) -> Dict[str, Any]:
    return {"section": section, "model": model, "p": row["p_mean"], "r": row["r_mean"],
            "f1": row["mean"], "sd": row.get("sd"), "f1_per_seed": row["f1"],
            "dev": row.get("dev_mean")}


LABELS = {"dtn": "DTN", "dtn_hs": "DTN (HS)", "baseline": "Baseline (no transfer)",
          NER_SYSTEM: "spaCy ner"}


def table_rows(systems: Rows) -> List[Dict[str, Any]]:
    """Table 1's rows in the paper's order for the systems present: baseline, the three best
    and three worst TTN codes, the TTN average, DTN, DTN (HS), then spaCy's ner."""
    rows = []
    if "baseline" in systems:
        rows.append(_row(LABELS["baseline"], systems["baseline"]))
    best, worst = best_and_worst(rank_ttn(systems))
    rows += [_row(code, row, "Highest performance TTN") for code, row in best]
    rows += [_row(code, row, "Lowest performance TTN") for code, row in worst]
    average = ttn_average(systems)
    if average is not None:
        rows.append({"section": None, "model": f"Avg. ({average['n']} TTN)", "p": average["p"],
                     "r": average["r"], "f1": average["f1"], "sd": average["sd_over_codes"],
                     "sd_over": "codes"})
    rows += [_row(LABELS[name], systems[name]) for name in ("dtn", "dtn_hs", NER_SYSTEM)
             if name in systems]
    return rows


def check_claim(systems: Rows, key: str = TEST) -> Dict[str, Dict[str, Any]]:
    """The paper's claim for DTN and DTN (HS), in F1 points of the rows' ``key``: the mean
    test F1 (the paper's measure), or with :data:`DEV` the best dev F1 of the same runs.

    ``to_best``: the system minus the best TTN code (``within_best``: ≥ −WITHIN_BEST);
    ``over_average_sd``: (system − TTN average) / the sd over codes (``above_average``: ≥ 1);
    ``over_baseline`` and ``over_ner``. Needs at least two TTN codes; {} otherwise.
    """
    ranked = rank_ttn(systems, key)
    average = ttn_average(systems, key)
    if len(ranked) < 2 or average is None:
        return {}
    best_code, best = ranked[0]
    claims = {}
    for name in ("dtn", "dtn_hs"):
        if name not in systems:
            continue
        f1 = systems[name][key]
        sd = average["sd_over_codes"]
        over_sd = (f1 - average["f1"]) / sd if sd > 0 else math.inf
        claims[name] = {
            "f1": f1, "best_code": best_code, "best_f1": best[key],
            "to_best": f1 - best[key], "within_best": f1 - best[key] >= -WITHIN_BEST,
            "average": average["f1"], "average_sd": sd, "over_average_sd": over_sd,
            "above_average": over_sd >= 1.0,
            "rank": 1 + sum(row[key] > f1 for _, row in ranked), "n_codes": len(ranked),
        }
        for other in ("baseline", NER_SYSTEM):
            if other in systems:
                claims[name][f"over_{other}"] = f1 - systems[other][key]
    return claims


def how_runs_ended(run_dirs: Dict[str, List[Path]], max_steps: int) -> Dict[str, List[str]]:
    """Per system and seed: ``early stop`` when the run's last evaluation (its ``train.log``)
    came before ``max_steps``, ``step cap`` when at it, ``unknown`` without a log table."""
    ended = {}
    for name, dirs in run_dirs.items():
        ended[name] = []
        for run_dir in dirs:
            curve = read_curve(run_dir)
            if not curve:
                ended[name].append("unknown")
            else:
                ended[name].append("early stop" if curve[-1][0] < max_steps else "step cap")
    return ended


# ------------------------------------------------------------------ markdown


def _fmt(value: Optional[float], sd: Optional[float] = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.2f}"
    if sd is not None:
        text += " ± " + ("n/a" if math.isnan(sd) else f"{sd:.2f}")
    return text


def format_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown: Model | P | R | F1 (mean ± sd) | F1 per seed | dev F1, sections as rows."""
    lines = ["| Model | Precision | Recall | F1 | F1 per seed | dev F1 |",
             "|---|---:|---:|---:|---:|---:|"]
    section = None
    for row in rows:
        if row["section"] and row["section"] != section:
            lines.append(f"| *{row['section']}* | | | | | |")
        section = row["section"]
        per_seed = " / ".join(f"{v:.2f}" for v in row.get("f1_per_seed", []))
        sd = row["sd"] if (row.get("sd_over") or len(row.get("f1_per_seed", [])) > 1) else None
        f1 = _fmt(row["f1"], sd) + (" (sd over codes)" if row.get("sd_over") else "")
        lines.append(f"| {row['model']} | {_fmt(row['p'])} | {_fmt(row['r'])} | {f1} | "
                     f"{per_seed} | {_fmt(row.get('dev'))} |")
    return "\n".join(lines)


def format_claim(claims: Dict[str, Dict[str, Any]]) -> str:
    """The claim in words, one bullet per DTN system."""
    if not claims:
        return "The claim needs at least two TTN codes and a DTN run."
    lines = []
    for name, c in claims.items():
        within = "within" if c["within_best"] else "not within"
        above = "is" if c["above_average"] else "is not"
        line = (
            f"* **{LABELS[name]}** {c['f1']:.2f}: {c['to_best']:+.2f} to the best fixed scheme "
            f"({c['best_code']}, {c['best_f1']:.2f}), **{within} {WITHIN_BEST}**; "
            f"{c['over_average_sd']:+.2f} sd from the TTN average ({c['average']:.2f} ± "
            f"{c['average_sd']:.2f}), so it **{above} above it by one sd**; rank {c['rank']} "
            f"among the {c['n_codes']} codes"
        )
        if "over_baseline" in c:
            line += f"; {c['over_baseline']:+.2f} against the no-transfer baseline"
        if "over_ner" in c:
            line += f"; {c['over_ner']:+.2f} against spaCy ner"
        lines.append(line + ".")
    return "\n".join(lines)


def format_markdown(grid: Dict[str, Any]) -> str:
    """table.md: the setting and protocol, Table 1, the claim, every code, how runs ended."""
    setting = grid["setting"]
    seeds = ", ".join(map(str, grid["seeds"]))
    lines = [
        f"# Transfer grid: {setting['source']} → {setting['target']} "
        f"{setting['fraction_pct']:g} %", "",
        f"Seeds {seeds}; test scores (strict entity P/R/F1, %) of each run's best target-dev "
        f"checkpoint; a row's ± is the sample sd over seeds, the TTN average's over codes. "
        f"Every run is `compare`'s: max_steps {setting['max_steps']}, eval_frequency "
        f"{setting['eval_frequency']}, patience {setting['patience']}, dev_limit "
        f"{setting['dev_limit']}, vectors `{setting['vectors']}`.", "",
        f"Command: `{setting.get('command')}`", "",
        "## Table 1", "", format_table(grid["table"]), "",
        "## The claim", "", "On test F1 (the paper's measure):", "", format_claim(grid["claim"]),
        "", "On the best dev F1 of the same runs (what a user could have chosen by):", "",
        format_claim(grid["claim_dev"]), "",
        "## Every scheme, best first", "",
        "| Scheme | F1 | F1 per type | F1 per seed | ended |", "|---|---:|---:|---:|---|",
    ]
    for name, row in grid["ranked"]:
        per_type = ", ".join(f"{label} {_fmt(v['mean'])}" for label, v in row["per_type"].items())
        per_seed = " / ".join(f"{v:.2f}" for v in row["f1"])
        ended = ", ".join(grid["ended"].get(name, []))
        lines.append(f"| {name} | {_fmt(row['mean'], row.get('sd'))} | {per_type} | "
                     f"{per_seed} | {ended} |")
    capped = [name for name, ends in grid["ended"].items() if "step cap" in ends]
    lines += ["", "Every run ended by early stopping." if not capped and grid["ended"] else
              f"Runs that reached the step cap: {', '.join(capped) or 'unknown (no logs)'}."]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the plot


def plot_grid(grid: Dict[str, Any], path: Path) -> Path:
    """grid.png: mean test F1 of every scheme (sorted, error bars: sd over seeds), DTN, DTN
    (HS), baseline and spaCy ner coloured, the TTN average ± sd as a band."""
    plt = use_agg()
    items = grid["ranked"]
    colors = {"dtn": "#c44e52", "dtn_hs": "#dd8452", "baseline": "#9a9a9a",
              NER_SYSTEM: "#55a868"}
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.24 * len(items)), dpi=120)
    means = [row["mean"] for _, row in items]
    errors = [row.get("sd") or 0.0 for _, row in items]
    low = max(0.0, math.floor(min(m - e for m, e in zip(means, errors)) - 1))
    high = min(100.0, math.ceil(max(m + e for m, e in zip(means, errors)) + 1))
    for y, (name, row) in enumerate(items):
        color = colors.get(name, "#4c72b0")
        ax.barh(y, row["mean"] - low, left=low, height=0.7, color=color, alpha=0.85,
                xerr=row.get("sd") or None, error_kw={"elinewidth": 1, "capsize": 2})
        ax.text(high - 0.1, y, f"{row['mean']:.2f}", va="center", ha="right", fontsize=7)
    average = grid["average"]
    if average is not None and not math.isnan(average["sd_over_codes"]):
        ax.axvspan(average["f1"] - average["sd_over_codes"],
                   average["f1"] + average["sd_over_codes"], color="#4c72b0", alpha=0.12)
        ax.axvline(average["f1"], color="#4c72b0", linewidth=1, linestyle="--")
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels([LABELS.get(name, code_of(name) or name) for name, _ in items],
                       fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(low, high)
    ax.set_xlabel(f"test F1 (%; the axis starts at {low:g}); dashed line and band: TTN "
                  "average ± sd over codes")
    setting, seeds = grid["setting"], ", ".join(map(str, grid["seeds"]))
    ax.set_title(f"{setting['source']} → {setting['target']} {setting['fraction_pct']:g} %: "
                 f"27 fixed schemes (blue) against DTN, DTN (HS), baseline, spaCy ner; "
                 f"seeds {seeds}", fontsize=9, wrap=True)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(plt, fig, path)


# ------------------------------------------------------------------ the command


def build_grid(result: Dict[str, Any], output_dir: Path) -> Dict[str, Any]:
    """grid.json's content from ``run_compare``'s result and the runs' logs."""
    systems = result["systems"]
    ranked = sorted(systems.items(), key=lambda item: (-item[1]["mean"], item[0]))
    run_dirs = {name: [output_dir / "runs" / f"seed-{seed}" / name for seed in row["seeds"]]
                for name, row in systems.items()}
    return {
        "setting": result["setting"], "seeds": result["seeds"],
        "table": table_rows(systems), "claim": check_claim(systems),
        "claim_dev": check_claim(systems, DEV),
        "average": ttn_average(systems), "ranked": ranked,
        "ended": how_runs_ended(run_dirs, result["setting"]["max_steps"]),
    }


def _json_safe(value: Any) -> Any:
    """nan and infinity (a sd of one code) as null: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def run_grid(
    settings: Sequence[str],
    seeds: Sequence[int],
    output_dir: Path,
    options: Dict[str, Any],
    ttn_config: str = DEFAULT_TTN_CONFIG,
    with_ner: bool = True,
    jobs: int = 1,
    runner: Callable[[List[str], Path, int], None] = run_subprocess,
    train: bool = True,
) -> Dict[str, Any]:
    """Train (or resume) the grid with ``compare``'s orchestrator, then write grid.json,
    table.md and grid.png beside compare's files. ``train`` False: report what is done."""
    if not options.get("source") or "," in options["source"]:
        raise GridError("--source: the grid compares sharing schemes with one source corpus")
    systems = grid_systems(settings, ttn_config, with_ner)
    result = run_compare(systems, seeds, output_dir, options, jobs=jobs, runner=runner,
                         train=train)
    grid = build_grid(result, output_dir)
    srsly.write_json(output_dir / "grid.json", _json_safe(grid))
    (output_dir / "table.md").write_text(format_markdown(grid), encoding="utf8")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return grid
    if grid["ranked"]:
        plot_grid(grid, output_dir / "grid.png")
    return grid
