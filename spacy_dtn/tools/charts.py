"""Pictures of a comparison: test F1 per system over seeds, and dev F1 by training step.

``python -m spacy_dtn compare`` writes two PNGs beside ``compare.md`` (:func:`write_charts`):

    compare.png   per system (rows in the table's order) the mean test F1 as a bar and each
                  seed's F1 as a dot: the spread over seeds next to the differences
    curves.png    dev F1 by step of every system for the first seed, read from each run's
                  ``train.log`` (the table ``spacy train`` prints at each evaluation)

They need matplotlib (the ``plot`` extra); without it ``compare`` writes its tables and says
in one line that it drew nothing. To draw them again from a results folder, e.g. one written
before compare drew charts, without training anything::

    python -m spacy_dtn.tools.charts results/SOURCE-to-TARGET-PCTpct [--output-dir DIR] \
        [--name NAME]

(``--name several-sources``: ``compare-several-sources.png`` and ``curves-several-sources.png``).
"""
import math
import re
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import srsly
from wasabi import msg

PathLike = Union[str, Path]
#: A point of a training curve: (step, dev ENTS_F in percent).
Point = Tuple[int, float]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
DASHES = re.compile(r"^-+(\s+-+)+\s*$")


def use_agg():
    """matplotlib's pyplot on the Agg backend (files only; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parse_train_log(text: str) -> List[Point]:
    """(step, dev ENTS_F) at each evaluation of the console table in a ``train.log``.

    The table is spaCy's (``E  #  LOSS ...  ENTS_F  ENTS_P  ENTS_R  SCORE``) or
    ``spacy_dtn.ConsoleLogger.v1``'s (a loss column per task): the columns are found from the
    dashes under the header, and a row is a line with one number per column; other lines
    (messages, the evaluation's table after training) are skipped. ENTS_F is in percent as
    printed. A log holding several trainings gives the last one's points.
    """
    points: List[Point] = []
    columns: Optional[Tuple[int, int, int]] = None  # (number of columns, step, ENTS_F)
    previous = ""
    for line in re.split(r"\r\n|\r|\n", ANSI.sub("", text)):
        if DASHES.match(line):
            spans = [m.span() for m in re.finditer(r"-+", line)]
            titles = [previous[start:end].strip() for start, end in spans]
            if "#" in titles and "ENTS_F" in titles:
                columns = (len(spans), titles.index("#"), titles.index("ENTS_F"))
                points = []
            else:
                columns = None
        elif columns is not None:
            fields = line.split()
            if len(fields) == columns[0]:
                try:
                    values = [float(field) for field in fields]
                except ValueError:
                    pass
                else:
                    points.append((int(values[columns[1]]), values[columns[2]]))
        previous = line
    return points


def read_curve(run: PathLike) -> List[Point]:
    """The points of a run folder's ``train.log`` (or of a log file); [] when it has none."""
    path = Path(run)
    if path.is_dir():
        path = path / "train.log"
    if not path.is_file():
        return []
    return parse_train_log(path.read_text(encoding="utf8", errors="replace"))


def _style(name: str) -> Dict[str, str]:
    """DTN systems solid, spaCy's ``ner`` and its variants dashed, others (the no-transfer
    ``baseline``) dotted; the family names the bar colour in :func:`plot_compare`."""
    if name.startswith("dtn"):
        return {"linestyle": "-", "family": "the DTN (dtn_ner, dtn_transition_ner)"}
    if name.startswith("ner"):
        return {"linestyle": "--", "family": "spaCy ner"}
    if name.startswith("baseline"):
        return {"linestyle": ":", "family": "the DTN's network, no transfer"}
    return {"linestyle": ":", "family": "other"}


#: The curves' lower panel: this many F1 points below the best dev F1 of all runs.
ZOOM = 12
BAR_COLORS = {"the DTN (dtn_ner, dtn_transition_ner)": "#4c72b0", "spaCy ner": "#dd8452",
              "the DTN's network, no transfer": "#9a9a9a", "other": "#8c8c5a"}


def _title(result: Dict[str, Any], what: str) -> str:
    setting = result.get("setting", {})
    where = f"{setting.get('source') or 'no source'} → {setting.get('target')}"
    if setting.get("fraction_pct") is not None:
        where += f" {setting['fraction_pct']:g} %"
    return textwrap.fill(f"{where}: {what}", 72)


def plot_compare(result: Dict[str, Any], path: PathLike) -> Path:
    """A PNG of ``compare.json``'s rows: mean test F1 per system as a bar, each seed a dot.

    Rows top to bottom in the table's order; the F1 axis starts a little below the lowest
    seed (said under the axis), so that differences of one or two points show.
    """
    plt = use_agg()
    rows = list(result["systems"].items())
    if not rows:
        raise ValueError("plot_compare: the result has no systems")
    values = [v for _, row in rows for v in row["f1"]] + [row["mean"] for _, row in rows]
    low = max(0.0, 5 * math.floor((min(values) - 2) / 5))
    high = min(100.0, 5 * math.ceil((max(values) + 3) / 5))
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.55 * len(rows)), dpi=120)
    for y, (name, row) in enumerate(rows):
        family = _style(name)["family"]
        ax.barh(y, row["mean"] - low, left=low, height=0.6, color=BAR_COLORS[family],
                alpha=0.85, label=family)
        n = len(row["f1"])
        offsets = [(k - (n - 1) / 2) * min(0.12, 0.45 / max(n, 1)) for k in range(n)]
        ax.scatter(row["f1"], [y + off for off in offsets], s=22, color="black", zorder=3,
                   label="one seed")
        text = f"{row['mean']:.2f}" + (f" ± {row['sd']:.2f}" if row.get("sd") else "")
        ax.text(high - 0.2, y, text, va="center", ha="right", fontsize=9)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name + (" *" if row.get("earlier_run") else "") for name, row in rows])
    ax.invert_yaxis()
    ax.set_xlim(low, high)
    ax.set_xlabel(f"test F1 (%, strict entities; the axis starts at {low:g})")
    seeds = ", ".join(map(str, result.get("seeds", [])))
    ax.set_title(_title(result, f"test F1, mean (bar) and each of seeds {seeds} (dots)"),
                 fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=len(unique), fontsize=8, frameon=False)
    return save_figure(plt, fig, path)


def save_figure(plt: Any, fig: Any, path: PathLike) -> Path:
    """Lay out ``fig``, write it to ``path`` (its folder made) and free it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_curves(runs: Dict[str, PathLike], path: PathLike,
                title: Optional[str] = None) -> Dict[str, List[Point]]:
    """A PNG of dev F1 by step, one line per run (label: run folder or ``train.log``).

    The best evaluation of each run (its ``model-best``) is a star. Two panels: the whole
    F1 range, and the top ``ZOOM`` points of it, where the runs end up and differ. Runs
    without a log or a table are left out; with no curve at all nothing is written. Returns
    the curves drawn.
    """
    curves = {label: read_curve(run) for label, run in runs.items()}
    curves = {label: points for label, points in curves.items() if points}
    if not curves:
        return {}
    plt = use_agg()
    fig, (full, zoom) = plt.subplots(2, 1, figsize=(8, 7.5), dpi=120, sharex=True,
                                     gridspec_kw={"height_ratios": [1, 1.3]})
    top = max(f for points in curves.values() for _, f in points)
    for ax in (full, zoom):
        for k, (label, points) in enumerate(curves.items()):
            steps, f1 = zip(*points)
            color = f"C{k % 10}"
            ax.plot(steps, f1, linestyle=_style(label)["linestyle"], marker="o",
                    markersize=2.5, linewidth=1.4, color=color, label=label)
            best = max(range(len(f1)), key=lambda i: f1[i])
            ax.scatter([steps[best]], [f1[best]], marker="*", s=90, color=color, zorder=3,
                       edgecolors="black", linewidths=0.5)
        ax.grid(alpha=0.3)
    full.set_ylim(0, min(100.0, 5 * math.ceil((top + 2) / 5)))
    full.set_ylabel("dev F1 (%)")
    full.legend(fontsize=8, loc="lower right", ncol=2, framealpha=0.9)
    full.set_title(title or "dev F1 by step (star: the best evaluation, model-best)",
                   fontsize=10)
    low = max(0.0, 2 * math.floor((top - ZOOM) / 2))
    zoom.set_ylim(low, top + 1)
    zoom.set_ylabel(f"dev F1 (%), from {low:g}")
    zoom.set_xlabel("training step")
    save_figure(plt, fig, path)
    return curves


def write_charts(result: Dict[str, Any], results_dir: PathLike,
                 output_dir: Optional[PathLike] = None, name: Optional[str] = None) -> List[Path]:
    """compare.png and curves.png (the first seed's runs in ``results_dir/runs``) into
    ``output_dir`` (default: ``results_dir``), ``-NAME`` added to the file names when given.
    Without matplotlib: one info line, nothing written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        msg.info("No charts: matplotlib is not installed (the plot extra)")
        return []
    results_dir = Path(results_dir)
    output_dir = Path(output_dir) if output_dir is not None else results_dir
    suffix = f"-{name}" if name else ""
    written = [plot_compare(result, output_dir / f"compare{suffix}.png")]
    if result.get("seeds"):
        seed = result["seeds"][0]
        runs = {system: results_dir / "runs" / f"seed-{seed}" / system
                for system in result["systems"]}
        title = _title(result, f"dev F1 by step, seed {seed} (star: model-best)")
        if plot_curves(runs, output_dir / f"curves{suffix}.png", title=title):
            written.append(output_dir / f"curves{suffix}.png")
    msg.good(f"Wrote {', '.join(str(path) for path in written)}")
    return written


def main(argv: Optional[List[str]] = None) -> None:
    """Draw compare.png and curves.png again from a results folder's compare.json and logs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spacy_dtn.tools.charts",
                                     description=main.__doc__)
    parser.add_argument("results_dir", type=Path, help="a compare results folder")
    parser.add_argument("--output-dir", type=Path, help="where the PNGs go (default: there)")
    parser.add_argument("--name", help="added to the file names: compare-NAME.png")
    args = parser.parse_args(argv)
    result = srsly.read_json(args.results_dir / "compare.json")
    write_charts(result, args.results_dir, args.output_dir, args.name)


if __name__ == "__main__":
    main()
