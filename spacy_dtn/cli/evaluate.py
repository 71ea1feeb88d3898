"""``python -m spacy_dtn evaluate MODEL DATA``: :func:`spacy_dtn.tools.evaluate.evaluate`, printed."""
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from wasabi import msg

from ..tools.evaluate import EvaluateError, evaluate
from ._util import Arg, Opt, app, fail


def percent(value: Optional[float]) -> str:
    """A score as a percentage; spaCy's scorer gives ``None`` when there is nothing to score."""
    return "n/a" if value is None else f"{100 * value:.2f}"


def print_scores(scores: Dict[str, Any]) -> None:
    """The per-type table with micro and macro averages, and spaCy's scores below it."""
    def cells(name: str, s: Dict[str, float]) -> Sequence:
        return (name, percent(s["precision"]), percent(s["recall"]), percent(s["f1"]),
                s["support"])

    rows = [cells(label, s) for label, s in scores["per_type"].items()]
    rows += [cells("micro avg", scores["micro"]), cells("macro avg", scores["macro"])]
    msg.table(rows, header=("type", "P", "R", "F1", "support"), divider=True,
              aligns=("l", "r", "r", "r", "r"))
    token = scores["token"]
    msg.text(f"token level (not strict): F1 {percent(token['tag']['f1'])} by IOBES tag, "
             f"{percent(token['type']['f1'])} by type")
    sp = scores
    msg.text(
        f"spaCy Scorer.score_spans: ents_p {percent(sp['ents_p'])}  ents_r "
        f"{percent(sp['ents_r'])}  ents_f {percent(sp['ents_f'])}"
    )


@app.command("evaluate")
def evaluate_cli(
    model: str = Arg(..., help="Pipeline to evaluate: a directory or a package name"),
    data: Path = Arg(..., help="Gold data: a DocBin (.spacy) file"),
    output: Optional[Path] = Opt(None, "--output", "-o", help="Write the scores as JSON"),
    spans_key: Optional[str] = Opt(
        None, "--spans-key", "-k", help="Read predictions from doc.spans[KEY], not doc.ents"
    ),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    batch_size: int = Opt(64, "--batch-size", "-b", help="Docs per nlp.pipe batch"),
) -> None:
    """Strict entity precision/recall/F1 (seqeval, IOBES; micro, macro, per type) of MODEL on
    DATA, next to spaCy's own ents_p/r/f for the same predictions."""
    try:
        scores = evaluate(model, data, spans_key=spans_key, gpu_id=gpu_id,
                          batch_size=batch_size, output=output)
    except EvaluateError as err:
        fail(str(err))
    msg.good(f"{model} on {data}: {scores['n_docs']} docs, {scores['n_gold_entities']} gold "
             f"and {scores['n_pred_entities']} predicted entities")
    print_scores(scores)
    if output is not None:
        msg.good(f"Saved the scores to {output}")
