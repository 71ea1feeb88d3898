"""``spacy_dtn.ner_scorer.v1``: the scorer of ``dtn_ner``, as spaCy's ``spancat`` has its own.

spaCy's ``Pipe.score`` calls the component's ``scorer`` with the component's ``cfg`` as
keyword arguments; ``dtn_ner`` keeps ``spans_key`` there (as ``spancat`` does), so this
scorer reads it: without a key it is spaCy's ``spacy.ner_scorer.v1`` (``ents_p/r/f``,
``ents_per_type``); with one, the predictions in ``doc.spans[spans_key]`` are scored against
the gold ``doc.ents`` as ``spans_{spans_key}_p/r/f`` and ``spans_{spans_key}_per_type``, so a
``ner`` beside the component keeps its own ``ents_*``.
"""
from typing import Any, Callable, Dict, Iterable, Optional

from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example


def score_entities(
    examples: Iterable[Example], *, spans_key: Optional[str] = None, **kwargs: Any
) -> Dict[str, Any]:
    """The target entities' scores, in ``doc.ents`` or (``spans_key``) in ``doc.spans``."""
    if spans_key is None:
        return get_ner_prf(examples, **kwargs)

    def getter(doc: Doc, attr: str) -> Iterable[Span]:
        # Predictions live in doc.spans[key]; gold entities in doc.ents.
        return doc.spans[spans_key] if spans_key in doc.spans else doc.ents

    kwargs.pop("labels", None)  # Pipe.score adds the component's labels; spans are all scored
    return Scorer.score_spans(examples, f"spans_{spans_key}", getter=getter, **kwargs)


def make_dtn_ner_scorer() -> Callable[..., Dict[str, Any]]:
    """``spacy_dtn.ner_scorer.v1`` (registered through the ``spacy_scorers`` entry point)."""
    return score_entities
