"""``python -m spacy_dtn evaluate MODEL DATA``: strict entity P/R/F1 of a pipeline on a DocBin.

The paper reports entity-level precision, recall and F1 as the CoNLL script computes them;
``seqeval`` in strict mode on IOBES tags is that measure (an entity counts only when its type
and both boundaries match). spaCy's own ``Scorer.score_spans`` is computed for the same
predictions and reported beside it: the two must agree on micro F1, which checks the tag
conversion, and lets results be compared with ``spacy evaluate`` / ``spacy train`` scores.

:func:`evaluate` loads a pipeline and a DocBin and scores one on the other;
:func:`evaluate_docs` scores docs already predicted (the grid search scores with it). The
command (:mod:`spacy_dtn.cli.evaluate`) only prints and reports errors.
"""
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

import spacy
import srsly
from seqeval.metrics import classification_report
from seqeval.scheme import IOBES
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.iob_utils import doc_to_biluo_tags
from tqdm import tqdm
from wasabi import msg

from .loading import load_pipeline, one_line
from ..iobes import biluo_to_iobes

#: The scores ``spacy evaluate --output`` writes for an NER pipeline, under its names.
SPACY_KEYS = ("ents_p", "ents_r", "ents_f", "ents_per_type")
#: The entity-predicting components the command expects; others may write ``doc.ents`` too.
NER_FACTORIES = ("dtn_ner", "ner")


class EvaluateError(Exception):
    """A problem with the model or the data: one line, exit code 1."""


def to_iobes(doc: Doc) -> List[str]:
    """The IOBES tags of ``doc.ents`` (tokens without annotation count as outside)."""
    return [biluo_to_iobes(tag) for tag in doc_to_biluo_tags(doc, missing="O")]


def with_predicted_ents(doc: Doc, spans_key: Optional[str], index: int) -> Doc:
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


def _token_scores(gold_tags: List[List[str]], pred_tags: List[List[str]]) -> Dict[str, Any]:
    """Token-level micro P/R/F1 over the tokens tagged other than ``O``: the lenient measures
    some papers report without saying so. ``tag``: a token counts when its IOBES tag is the
    gold one (type and position); ``type``: when its entity type is (boundaries ignored).
    ``support`` is the number of gold entity tokens."""
    scores = {}
    for name, key in (("tag", lambda tag: tag), ("type", lambda tag: tag[2:])):
        gold_n = pred_n = correct = 0
        for gold, pred in zip(gold_tags, pred_tags):
            for g, p in zip(gold, pred):
                gold_n += g != "O"
                pred_n += p != "O"
                correct += g != "O" and p != "O" and key(g) == key(p)
        precision = correct / pred_n if pred_n else 0.0
        recall = correct / gold_n if gold_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[name] = _prf(precision, recall, f1, gold_n)
    return scores


def evaluate_docs(
    pred_docs: Iterable[Doc], gold_docs: Iterable[Doc], spans_key: Optional[str] = None
) -> Dict[str, Any]:
    """Score predicted entities against gold ``doc.ents``, with seqeval and with spaCy.

    pred_docs, gold_docs: aligned sequences of docs with the same tokens.
    spans_key: read the predictions from ``doc.spans[spans_key]`` instead of ``doc.ents``.
    RETURNS: spaCy's keys at the top (``ents_p``, ``ents_r``, ``ents_f``, ``ents_per_type``
        from ``Scorer.score_spans``, as ``spacy evaluate`` writes them) and seqeval's beside
        them: ``micro``, ``macro``, ``per_type`` (precision, recall, f1, support: the number
        of gold entities), ``token`` (:func:`_token_scores`: not strict, never the headline)
        and counts.
    """
    pred_docs, gold_docs = list(pred_docs), list(gold_docs)
    if len(pred_docs) != len(gold_docs):
        raise ValueError(f"{len(pred_docs)} predicted docs for {len(gold_docs)} gold docs")
    examples, gold_tags, pred_tags = [], [], []
    for i, (pred, gold) in enumerate(zip(pred_docs, gold_docs)):
        if [t.text for t in pred] != [t.text for t in gold]:
            raise ValueError(f"doc {i}: the predicted doc's tokens differ from the gold doc's")
        pred = with_predicted_ents(pred, spans_key, i)
        examples.append(Example(pred, gold))
        gold_tags.append(to_iobes(gold))
        pred_tags.append(to_iobes(pred))
    scores = _seqeval_scores(gold_tags, pred_tags)
    scores["token"] = _token_scores(gold_tags, pred_tags)
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


def predict_on_gold(
    nlp, gold_docs: Iterable[Doc], batch_size: int = 256, progress: bool = False
) -> List[Doc]:
    """The pipeline's predictions for docs built from the gold docs' words and spaces.

    Tokenisation is not what is evaluated: with the gold tokens the predicted and gold spans
    share token offsets, and per-token values (the DTN's gates) align with the gold tags.
    progress: a progress bar on stderr (when it is a terminal).
    """
    gold_docs = list(gold_docs)
    texts = (
        Doc(nlp.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])
        for gold in gold_docs
    )
    return list(tqdm(nlp.pipe(texts, batch_size=batch_size), total=len(gold_docs),
                     desc="predict", unit="doc", leave=False, file=sys.stderr,
                     disable=None if progress else True))


def _check_data(data: Path) -> None:
    """Fail on a missing data path before the (slow) pipeline load."""
    if not data.exists():
        raise EvaluateError(f"Data not found: {data}")
    if not data.is_file():
        raise EvaluateError(f"Data must be a DocBin file (.spacy), got a directory: {data}")


def _load_gold(data: Path, vocab) -> List[Doc]:
    try:
        docs = list(DocBin().from_disk(data).get_docs(vocab))
    except Exception:  # spaCy's E1014, zlib, msgpack...: all mean "not a DocBin"
        raise EvaluateError(f"Can't read {data} as a DocBin (.spacy); convert it first "
                            "(python -m spacy_dtn convert)") from None
    if not docs:  # nothing to score: every P/R/F would be undefined
        raise EvaluateError(f"{data} holds no docs: nothing to evaluate")
    return docs


def _load_pipeline(model: str, gpu_id: int):
    if gpu_id >= 0:
        try:
            spacy.require_gpu(gpu_id)
        except Exception as err:
            raise EvaluateError(f"Can't use GPU {gpu_id}: {one_line(err)}") from None
    return load_pipeline(model, EvaluateError)


def _warn_no_ner(nlp, model: str, scores: Dict[str, Any]) -> None:
    """0 predicted entities from a pipeline without an NER component is probably the wrong
    pipeline, not a bad model: say so rather than print zeros silently."""
    if scores["n_pred_entities"] or set(nlp.pipe_factories.values()) & set(NER_FACTORIES):
        return
    msg.warn(f"{model} has no {' or '.join(NER_FACTORIES)} component (pipeline: "
             f"{', '.join(nlp.pipe_names) or 'empty'}): it predicted no entities")


def _warn_no_gold(data: Path, scores: Dict[str, Any]) -> None:
    """Gold without entities scores every model 0 or n/a: likely the wrong file or one
    converted without its tags, and the numbers say nothing about the model."""
    if not scores["n_gold_entities"]:
        msg.warn(f"{data} has no gold entities: the scores say nothing about the model")


def evaluate(
    model: Union[str, Path],
    data: Path,
    *,
    spans_key: Optional[str] = None,
    gpu_id: int = -1,
    batch_size: int = 64,
    output: Optional[Path] = None,
) -> Dict[str, Any]:
    """Score the pipeline ``model`` (a directory or a package name) on the DocBin ``data``.

    The pipeline runs over docs built from the gold words (:func:`predict_on_gold`) and is
    scored by :func:`evaluate_docs`. Problems with the arguments, the model or the data raise
    :class:`EvaluateError` with a one-line message; a pipeline without an NER component that
    predicted nothing, and gold without entities, are warned about.
    output: also write the result as JSON.
    RETURNS: :func:`evaluate_docs`'s scores, with ``model``, ``data`` and ``speed`` (words per
        second of the prediction).
    """
    model, data = str(model), Path(data)
    _check_data(data)
    if batch_size < 1:
        raise EvaluateError(f"--batch-size must be at least 1, got {batch_size}")
    nlp = _load_pipeline(model, gpu_id)
    gold_docs = _load_gold(data, nlp.vocab)
    started = time.perf_counter()
    pred_docs = predict_on_gold(nlp, gold_docs, batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - started
    try:
        scores = evaluate_docs(pred_docs, gold_docs, spans_key=spans_key)
    except ValueError as err:
        raise EvaluateError(str(err)) from None
    _warn_no_ner(nlp, model, scores)
    _warn_no_gold(data, scores)
    speed = sum(len(doc) for doc in pred_docs) / seconds if seconds > 0 else None
    result = {"model": model, "data": str(data), **scores, "speed": speed}
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, result)
    return result
