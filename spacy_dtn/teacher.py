"""A source's unannotated types, completed with a teacher pipeline's predictions.

Each public corpus annotates its own types only: NCBI-disease's chemicals and CRAFT's diseases
are all ``O``. Pooled with the target, or tied to its outputs by a label map, those ``O``
tokens teach the model that most of the target's entities are not entities (spaCy ``ner`` on
the pool loses 5.6 F1 against the target alone, BENCHMARKS.md). A teacher, a pipeline trained
on the target alone, predicts the target types that a source does not annotate; its entities
join the source's gold wherever they overlap no gold entity. Each source then reads as
annotated for every target type: the gold for its own, the teacher's guesses for the rest
(the pseudo-labelling baseline of Huang et al. 2019, "Learning a unified named entity tagger
from multiple partially annotated corpora").

The teacher runs once per source text; later passes (epochs) read its cached entities.

Self-training (:mod:`spacy_dtn.self_training`) asks the same teacher for the entities of an
unlabeled archive and, with them, how sure it was of each token (:meth:`Teacher.annotations`):
the probability of its tag where the pipeline's entities come from a ``dtn_ner`` with the
``lstm`` decoder (:func:`spacy_dtn.layers.tagger.tag_confidences`). spaCy's transition-based
``ner`` and ``dtn_transition_ner`` (and the ``crf`` decoder) give no per-token distribution;
there every token counts as confident (``confidences`` None).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span

from .component import DTNEntityRecognizer
from .layers.tagger import tag_confidences

#: A predicted entity: token start, token end (exclusive), label.
EntityT = Tuple[int, int, str]


@dataclass
class Annotation:
    """The teacher's entities of one text and its confidence in each token's tag.

    ``confidences``: one probability per token, or None where the pipeline gives none
    (every token counts as confident).
    """

    entities: List[EntityT]
    confidences: Optional[List[float]] = None


def confidence_pipe(nlp: Language) -> Optional[Pipe]:
    """The component that can say how sure the pipeline's ``doc.ents`` are, or None.

    That is the last component that assigns ``doc.ents`` when it is a ``dtn_ner`` writing
    ``doc.ents`` (no ``spans_key``) with the ``lstm`` decoder.
    """
    writers = [name for name in nlp.pipe_names
               if "doc.ents" in nlp.get_pipe_meta(name).assigns]
    if not writers:
        return None
    pipe = nlp.get_pipe(writers[-1])
    if (isinstance(pipe, DTNEntityRecognizer) and pipe.spans_key is None
            and pipe.network.config.decoder == "lstm"):
        return pipe
    return None


class Teacher:
    """A trained pipeline (loaded on first use) and what it predicted, by text."""

    def __init__(self, path: Union[str, Path], batch_size: int = 256) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"teacher: no such pipeline {self.path}")
        self.batch_size = batch_size
        self._nlp: Union[Language, None] = None
        self._cache: Dict[Tuple[str, ...], Annotation] = {}

    @property
    def nlp(self) -> Language:
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self.path)
        return self._nlp

    def entities(self, docs: Sequence[Doc]) -> List[List[EntityT]]:
        """The teacher's entities for each doc, over the doc's own tokens."""
        return [annotation.entities for annotation in self.annotations(docs)]

    def annotations(self, docs: Sequence[Doc]) -> List[Annotation]:
        """The teacher's entities and token confidences for each doc, over its own tokens.

        Each distinct token sequence is annotated once; later calls read the cache.
        """
        keys = [tuple(token.text for token in doc) for doc in docs]
        todo = {key: doc for key, doc in zip(keys, docs) if key not in self._cache}
        if todo:
            vocab = self.nlp.vocab
            inputs = [Doc(vocab, words=[t.text for t in doc],
                          spaces=[bool(t.whitespace_) for t in doc]) for doc in todo.values()]
            scorer = confidence_pipe(self.nlp)
            batch: List[Doc] = []
            todo_keys = iter(todo)
            for predicted in self.nlp.pipe(inputs, batch_size=self.batch_size):
                batch.append(predicted)
                if len(batch) == self.batch_size:
                    self._keep(todo_keys, batch, scorer)
                    batch = []
            self._keep(todo_keys, batch, scorer)
        return [self._cache[key] for key in keys]

    def _keep(self, keys: Iterable[Tuple[str, ...]], predicted: List[Doc],
              scorer: Optional[Pipe]) -> None:
        """Cache a batch of predicted docs (their keys are the next ones of ``keys``)."""
        if not predicted:
            return
        confidences = tag_confidences(scorer.model, predicted) if scorer is not None \
            else [None] * len(predicted)
        # ``keys`` last: zip stops at the batch's end without taking the next batch's key
        for doc, confidence, key in zip(predicted, confidences, keys):
            self._cache[key] = Annotation(
                [(ent.start, ent.end, ent.label_) for ent in doc.ents],
                None if confidence is None else [float(c) for c in confidence])


def complete(
    doc: Doc,
    predicted: Iterable[EntityT],
    missing: Set[str],
    blocking: Optional[Iterable[Span]] = None,
) -> int:
    """Add the ``predicted`` entities of the ``missing`` labels that overlap no blocking entity.

    ``blocking``: the source's gold entities as read, before its labels were mapped (a gene
    dropped from the pool still is no disease); the doc's entities when None. Returns how many
    were added. The doc's own entities are kept as they are.
    """
    taken = [False] * len(doc)
    for ent in [*doc.ents, *(blocking or [])]:
        for i in range(ent.start, ent.end):
            taken[i] = True
    added = []
    for start, end, label in predicted:
        if label in missing and not any(taken[start:end]):
            added.append(Span(doc, start, end, label=label))
            for i in range(start, end):
                taken[i] = True
    if added:
        doc.ents = sorted([*doc.ents, *added], key=lambda span: span.start)
    return len(added)

