"""``python -m spacy_dtn evaluate MODEL DATA``: strict entity P/R/F1 of a pipeline on a DocBin.

The paper reports entity-level precision, recall and F1 as the CoNLL script computes them;
``seqeval`` in strict mode on IOBES tags is that measure (an entity counts only when its type
and both boundaries match). spaCy's own ``Scorer.score_spans`` is computed for the same
predictions and reported beside it: the two must agree on micro F1, which checks the tag
conversion, and lets results be compared with ``spacy evaluate`` / ``spacy train`` scores.

:func:`evaluate_docs` is the importable part (the grid search scores with it); the command
only loads, runs, prints and writes.
"""
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import spacy
import srsly
import typer
from seqeval.metrics import classification_report
from seqeval.scheme import IOBES
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.iob_utils import doc_to_biluo_tags
from tqdm import tqdm
from wasabi import msg

from .nn.iobes import biluo_to_iobes

#: The scores ``spacy evaluate --output`` writes for an NER pipeline, under its names.
SPACY_KEYS = ("ents_p", "ents_r", "ents_f", "ents_per_type")

def to_iobes(doc: Doc) -> List[str]:
    """The IOBES tags of ``doc.ents`` (tokens without annotation count as outside)."""
    return [biluo_to_iobes(tag) for tag in doc_to_biluo_tags(doc, missing="O")]


def _with_predicted_ents(doc: Doc, spans_key: Optional[str], index: int) -> Doc:
    """The prediction as a doc whose ``ents`` hold the predicted entities.

    With ``spans_key`` the entities come from ``doc.spans[spans_key]`` (e.g. ``dtn_ner`` writing
    next to another NER): they are copied onto a new doc's ``ents`` so that both scorers read
    them the same way. Overlapping spans can't be written as tags: that is an error.
    """
    if spans_key is None:
        return doc
    if spans_key not in doc.spans:
        raise ValueError(f"predicted doc {index} has no spans under the key {spans_key!r}")
    view = Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
    try:
        view.ents = [Span(view, s.start, s.end, label=s.label) for s in doc.spans[spans_key]]
    except ValueError:
        raise ValueError(
            f"predicted doc {index}: spans under {spans_key!r} overlap, they can't be scored "
            "as entities"
        ) from None
    return view


def _prf(precision: float, recall: float, f1: float, support: int) -> Dict[str, float]:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "support": int(support)}


def _seqeval_scores(gold_tags: List[List[str]], pred_tags: List[List[str]]) -> Dict[str, Any]:
    """Micro, macro and per-type strict IOBES scores (zero where nothing was predicted)."""
    has_entities = any(t != "O" for tags in gold_tags + pred_tags for t in tags)
    if not has_entities:  # seqeval has nothing to report on
        zero = _prf(0.0, 0.0, 0.0, 0)
        return {"micro": dict(zero), "macro": dict(zero), "per_type": {}}
    report = classification_report(
        gold_tags, pred_tags, mode="strict", scheme=IOBES, output_dict=True, zero_division=0
    )
    averages = {"micro avg", "macro avg", "weighted avg"}

    def row(key: str) -> Dict[str, float]:
        r = report[key]
        return _prf(r["precision"], r["recall"], r["f1-score"], r["support"])

    return {
        "micro": row("micro avg"),
        "macro": row("macro avg"),
        "per_type": {label: row(label) for label in sorted(report) if label not in averages},
    }


def evaluate_docs(
    pred_docs: Iterable[Doc], gold_docs: Iterable[Doc], spans_key: Optional[str] = None
) -> Dict[str, Any]:
    """Score predicted entities against gold ``doc.ents``, with seqeval and with spaCy.

    pred_docs, gold_docs: aligned sequences of docs with the same tokens.
    spans_key: read the predictions from ``doc.spans[spans_key]`` instead of ``doc.ents``.
    RETURNS: spaCy's keys at the top (``ents_p``, ``ents_r``, ``ents_f``, ``ents_per_type``
        from ``Scorer.score_spans``, as ``spacy evaluate`` writes them) and seqeval's beside
        them: ``micro``, ``macro``, ``per_type`` (precision, recall, f1, support: the number
        of gold entities), and counts.
    """
    pred_docs, gold_docs = list(pred_docs), list(gold_docs)
    if len(pred_docs) != len(gold_docs):
        raise ValueError(f"{len(pred_docs)} predicted docs for {len(gold_docs)} gold docs")
    examples, gold_tags, pred_tags = [], [], []
    for i, (pred, gold) in enumerate(zip(pred_docs, gold_docs)):
        if [t.text for t in pred] != [t.text for t in gold]:
            raise ValueError(f"doc {i}: the predicted doc's tokens differ from the gold doc's")
        pred = _with_predicted_ents(pred, spans_key, i)
        examples.append(Example(pred, gold))
        gold_tags.append(to_iobes(gold))
        pred_tags.append(to_iobes(pred))
    scores = _seqeval_scores(gold_tags, pred_tags)
    spacy_scores = Scorer.score_spans(examples, "ents")
    scores.update(
        n_docs=len(gold_docs),
        n_tokens=sum(len(doc) for doc in gold_docs),
        n_gold_entities=sum(len(eg.reference.ents) for eg in examples),
        n_pred_entities=sum(len(eg.predicted.ents) for eg in examples),
        spans_key=spans_key,
        **{key: spacy_scores[key] for key in SPACY_KEYS},
    )
    return scores


#: The entity-predicting components the command expects; others may write ``doc.ents`` too.
NER_FACTORIES = ("dtn_ner", "ner")


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
    sp = scores
    msg.text(
        f"spaCy Scorer.score_spans: ents_p {percent(sp['ents_p'])}  ents_r "
        f"{percent(sp['ents_r'])}  ents_f {percent(sp['ents_f'])}"
    )


def _one_line(err: BaseException) -> str:
    """The first sentence of an error, on one line (spaCy's messages run on with advice)."""
    text = " ".join(str(err).split())
    return text.split(". ")[0].rstrip(".") if text else type(err).__name__


def _check_data(data: Path) -> None:
    """Fail on a missing data path before the (slow) pipeline load."""
    if not data.exists():
        msg.fail(f"Data not found: {data}", exits=1)
    if not data.is_file():
        msg.fail(f"Data must be a DocBin file (.spacy), got a directory: {data}", exits=1)


def _load_gold(data: Path, vocab) -> List[Doc]:
    try:
        docs = list(DocBin().from_disk(data).get_docs(vocab))
    except Exception:  # spaCy's E1014, zlib, msgpack...: all mean "not a DocBin"
        msg.fail(f"Can't read {data} as a DocBin (.spacy); convert it first "
                 "(python -m spacy_dtn convert)", exits=1)
    if not docs:  # nothing to score: every P/R/F would be undefined
        msg.fail(f"{data} holds no docs: nothing to evaluate", exits=1)
    return docs


def _warn_no_ner(nlp, model: str, scores: Dict[str, Any]) -> None:
    """0 predicted entities from a pipeline without an NER component is probably the wrong
    pipeline, not a bad model: say so rather than print zeros silently."""
    if scores["n_pred_entities"] or set(nlp.pipe_factories.values()) & set(NER_FACTORIES):
        return
    msg.warn(f"{model} has no {' or '.join(NER_FACTORIES)} component (pipeline: "
             f"{', '.join(nlp.pipe_names) or 'empty'}): it predicted no entities")


def evaluate_cli(
    model: str = typer.Argument(..., help="Pipeline to evaluate: a directory or a package name"),
    data: Path = typer.Argument(..., help="Gold data: a DocBin (.spacy) file"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON"),
    spans_key: Optional[str] = typer.Option(
        None, "--spans-key", "-k", help="Read predictions from doc.spans[KEY], not doc.ents"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, -1 for CPU"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Docs per nlp.pipe batch"),
) -> None:
    """Strict entity precision/recall/F1 (seqeval, IOBES; micro, macro, per type) of MODEL on
    DATA, next to spaCy's own ents_p/r/f for the same predictions."""
    _check_data(data)
    if batch_size < 1:
        msg.fail(f"--batch-size must be at least 1, got {batch_size}", exits=1)
    if gpu_id >= 0:
        try:
            spacy.require_gpu(gpu_id)
        except Exception as err:
            msg.fail(f"Can't use GPU {gpu_id}: {_one_line(err)}", exits=1)
    if not Path(model).exists() and not spacy.util.is_package(model):
        msg.fail(f"Model not found: {model} is neither a directory nor an installed package",
                 exits=1)
    try:
        nlp = spacy.load(model)
    except Exception as err:  # a broken or foreign directory: say which and why, in one line
        msg.fail(f"Can't load the pipeline {model}: {_one_line(err)}", exits=1)
    gold_docs = _load_gold(data, nlp.vocab)
    texts = (
        Doc(nlp.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])
        for gold in gold_docs
    )
    started = time.perf_counter()
    pred_docs = list(tqdm(nlp.pipe(texts, batch_size=batch_size), total=len(gold_docs),
                          desc="evaluate", unit="doc", leave=False, file=sys.stderr,
                          disable=None))
    seconds = time.perf_counter() - started
    try:
        scores = evaluate_docs(pred_docs, gold_docs, spans_key=spans_key)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"{model} on {data}: {scores['n_docs']} docs, {scores['n_gold_entities']} gold "
             f"and {scores['n_pred_entities']} predicted entities")
    _warn_no_ner(nlp, model, scores)
    print_scores(scores)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        speed = sum(len(doc) for doc in pred_docs) / seconds if seconds > 0 else None
        srsly.write_json(output, {"model": str(model), "data": str(data), **scores,
                                  "speed": speed})
        msg.good(f"Saved the scores to {output}")
