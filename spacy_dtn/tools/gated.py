"""A pipeline that stores the DTN's gates, and its predictions with them on the gold words.

What ``gates`` and ``visualize`` share: loading the model with ``store_gates`` on (refusing
one without gates where the gates are the point) and running it over docs built from the
gold words, so the gate values line up with the gold tags token by token.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from . import loading
from ..extensions import GATES_EXTENSION, register_extensions
from .evaluate import predict_on_gold, with_predicted_ents

register_extensions()  # read from any pipeline's docs, with or without dtn_ner

COMPONENTS = ("char", "word", "decoder")
GATES = ("g1", "g2")


class GatesError(Exception):
    """A problem with the command's input: one line, exit code 1."""


def gate_names(gates: Dict[str, Sequence[float]]) -> List[str]:
    """The gate keys present, in the order char/word/decoder × g1/g2 (g2 absent for dtn_hs)."""
    return [f"{c}_{g}" for c in COMPONENTS for g in GATES if f"{c}_{g}" in gates]


def load_pipeline(model: Union[str, Path]):
    """``spacy.load`` with its failures as one-line GatesErrors (the CLIs print them)."""
    return loading.load_pipeline(model, GatesError)


def enable_gates(nlp, model: Union[str, Path]) -> None:
    """Turn ``store_gates`` on; GatesError when the pipeline has no DTN gates to store."""
    if "dtn_ner" not in nlp.pipe_names:
        raise GatesError(f"{model}: no dtn_ner component in the pipeline {nlp.pipe_names}")
    pipe = nlp.get_pipe("dtn_ner")
    sharing = pipe.network.config.sharing
    if sharing not in ("dtn", "dtn_hs"):
        raise GatesError(f"{model}: sharing {sharing!r} has no gates (only dtn and dtn_hs do)")
    pipe.store_gates = True


def load_gated(model: Union[str, Path]):
    """The pipeline with ``store_gates`` on; GatesError when it has no DTN gates."""
    nlp = load_pipeline(model)
    enable_gates(nlp, model)
    return nlp


def run_gates(
    nlp, gold_docs: List[Any], spans_key: Optional[str] = None, require_gates: bool = True
):
    """Predicted docs (from the gold words, so tokens align with the gold) with their gates.

    require_gates: check every doc got gate values (off for pipelines without gates, which
        ``visualize`` shows too). With ``spans_key`` the entities are moved onto ``ents`` of a
        new doc, and the gates go with them.
    """
    preds = predict_on_gold(nlp, gold_docs)
    for i, doc in enumerate(preds):
        if require_gates and len(doc) and not doc._.get(GATES_EXTENSION):
            raise GatesError(f"doc {i}: the model wrote no gate values")
    if spans_key is not None:
        views = []
        for i, doc in enumerate(preds):
            view = with_predicted_ents(doc, spans_key, i)
            view._.set(GATES_EXTENSION, doc._.get(GATES_EXTENSION))
            views.append(view)
        preds = views
    return preds
