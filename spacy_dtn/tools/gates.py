"""``python -m spacy_dtn gates MODEL DATA``: what the DTN's gates chose (paper Table 4, Figure 4).

A DTN learns, per token and component, how much to share with the source: g1 near 0 favours
hard sharing and near 1 soft sharing (eq. 1-2); g2 near 1 favours the shared representation
over the independent one (eq. 3-4). The paper reads these values two ways, and so does this
command:

* Table 4: the average g1 (and g2) per component over the tokens inside gold entities of each
  type, over ``O`` tokens, and over all tokens (:func:`gate_statistics`, pure);
* Figure 4: the gate values of one sentence, token by token, with gold and predicted tags, as
  a PNG (matplotlib, Agg backend; skipped with a warning when matplotlib is not installed, the
  ``plot`` extra) and as a page for the browser, the ``visualize`` command's page of that one
  sentence (gold and predicted entities, errors marked, the gate band).

The model runs with ``store_gates`` on over docs built from the gold words, so the gates are
aligned with the gold tags token by token. Models without gates (TTN codes, the baseline) are
refused: they have nothing to show.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import srsly

from ..extensions import GATES_EXTENSION
from .evaluate import to_iobes
from .gated import GatesError, gate_names, load_gated, run_gates
from .visualize import build_page

OUTSIDE = "O"
OVERALL = "Overall"


def token_types(doc) -> List[str]:
    """The gold entity type of each token (``O`` outside entities), read from ``doc.ents``."""
    types = [OUTSIDE] * len(doc)
    for ent in doc.ents:
        for i in range(ent.start, ent.end):
            types[i] = ent.label_
    return types


def gate_statistics(
    gates_per_doc: Sequence[Dict[str, Sequence[float]]], types_per_doc: Sequence[Sequence[str]]
) -> Dict[str, Dict[str, Any]]:
    """Average of every gate per gold entity type, over ``O`` tokens and over all tokens.

    Each token counts once (a token-level mean, as the paper's "averaged across all tokens").
    RETURNS: ``{row: {"n_tokens": int, "char_g1": mean, ...}}`` with rows the entity types
        (sorted), then ``O``, then ``Overall``.
    """
    sums: Dict[str, Dict[str, float]] = {}
    counts: Dict[str, int] = {}
    names: List[str] = []
    for gates, types in zip(gates_per_doc, types_per_doc):
        names = names or gate_names(gates)
        for name in gate_names(gates):
            if len(gates[name]) != len(types):
                raise ValueError(f"{name}: {len(gates[name])} values for {len(types)} tokens")
        for i, label in enumerate(types):
            for row in (label, OVERALL):
                counts[row] = counts.get(row, 0) + 1
                row_sums = sums.setdefault(row, {})
                for name in names:
                    row_sums[name] = row_sums.get(name, 0.0) + float(gates[name][i])
    order = sorted(r for r in counts if r not in (OUTSIDE, OVERALL))
    order += [r for r in (OUTSIDE, OVERALL) if r in counts]
    return {
        row: {"n_tokens": counts[row], **{n: sums[row][n] / counts[row] for n in names}}
        for row in order
    }


def format_statistics(stats: Dict[str, Dict[str, Any]]) -> str:
    """Markdown table in the layout of the paper's Table 4 (rows: types; columns: gates)."""
    names = [n for n in next(iter(stats.values()), {}) if n != "n_tokens"]
    header = ["Tokens", "n"] + [n.replace("_", " ") for n in names]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row, values in stats.items():
        cells = [row, str(values["n_tokens"])] + [f"{values[n]:.2f}" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ one sentence (Figure 4)


def have_matplotlib() -> bool:
    """Whether the PNG can be drawn: matplotlib is an optional extra (``spacy_dtn[plot]``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_sentence(
    path: Path, words: Sequence[str], gates: Dict[str, Sequence[float]],
    gold: Sequence[str], pred: Sequence[str],
) -> None:
    """PNG: one row per gate, one column per token, darker = higher; words and tags below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = gate_names(gates)
    values = [[float(v) for v in gates[n]] for n in names]
    width = max(6.0, 0.75 * len(words) + 2.0)
    fig, ax = plt.subplots(figsize=(width, 0.5 * len(names) + 2.2))
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 else "black")
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names])
    labels = [f"{w}\n{g}\n{p}" for w, g, p in zip(words, gold, pred)]
    ax.set_xticks(range(len(words)), labels, fontsize=8)
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel("word / gold tag / predicted tag")
    fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def gates(
    model: Union[str, Path], data: Path, output_dir: Path, *, sentence: int = 0,
    spans_key: Optional[str] = None,
) -> Tuple[str, List[str]]:
    """Average gate values per gold entity type (paper Table 4) and one sentence's gates.

    Writes ``gates.json`` (statistics and the sentence), ``gates.md`` (the table),
    ``sentence-N.png`` (when matplotlib is installed, :func:`have_matplotlib`) and
    ``sentence-N.html`` (``visualize``'s page of that sentence) into ``output_dir``.
    Problems with the model or the data raise :class:`GatesError`.
    RETURNS: the table (markdown) and the names of the files written.
    """
    from spacy.tokens import DocBin

    if not data.is_file():
        raise GatesError(f"data not found: {data}")
    nlp = load_gated(model)
    try:
        gold_docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    except Exception:  # spaCy's E1014, zlib, msgpack...: all mean "not a DocBin"
        raise GatesError(f"{data}: not a readable DocBin (.spacy)") from None
    if not 0 <= sentence < len(gold_docs):
        raise GatesError(f"--sentence {sentence}: {data} holds {len(gold_docs)} docs")
    preds = run_gates(nlp, gold_docs, spans_key)
    stats = gate_statistics([d._.get(GATES_EXTENSION) or {} for d in preds],
                            [token_types(g) for g in gold_docs])
    output_dir.mkdir(parents=True, exist_ok=True)
    table = format_statistics(stats)
    gold, pred = gold_docs[sentence], preds[sentence]
    words = [t.text for t in gold]
    gates = pred._.get(GATES_EXTENSION) or {}
    sharing = nlp.get_pipe("dtn_ner").network.config.sharing
    srsly.write_json(output_dir / "gates.json", {
        "model": str(model), "data": str(data), "sharing": sharing, "statistics": stats,
        "sentence": {"index": sentence, "words": words, "gold": to_iobes(gold),
                     "predicted": to_iobes(pred), "gates": gates},
    })
    header = (f"# DTN gate averages (paper Table 4)\n\nModel `{model}` (sharing `{sharing}`), "
              f"data `{data}`: {len(gold_docs)} docs. Mean gate value over the tokens of each "
              "gold entity type, over O tokens and over all tokens. g1: low = hard sharing, "
              "high = soft; g2: low = independent, high = shared.\n\n")
    (output_dir / "gates.md").write_text(header + table + "\n", encoding="utf8")
    png, page = output_dir / f"sentence-{sentence}.png", output_dir / f"sentence-{sentence}.html"
    written = ["gates.json", "gates.md"]
    if have_matplotlib():
        plot_sentence(png, words, gates, to_iobes(gold), to_iobes(pred))
        written.append(png.name)
    title = f"DTN gates, doc {sentence} of {data.name}"
    page.write_text(build_page([gold], [pred], title=title, meta=f"model {model}",
                               start=sentence), encoding="utf8")
    written.append(page.name)
    return table, written
