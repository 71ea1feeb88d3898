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
"""
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span

#: A predicted entity: token start, token end (exclusive), label.
EntityT = Tuple[int, int, str]


class Teacher:
    """A trained pipeline (loaded on first use) and the entities it predicted, by text."""

    def __init__(self, path: Union[str, Path], batch_size: int = 256) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"teacher: no such pipeline {self.path}")
        self.batch_size = batch_size
        self._nlp: Union[Language, None] = None
        self._cache: Dict[Tuple[str, ...], List[EntityT]] = {}

    @property
    def nlp(self) -> Language:
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self.path)
        return self._nlp

    def entities(self, docs: Sequence[Doc]) -> List[List[EntityT]]:
        """The teacher's entities for each doc, over the doc's own tokens."""
        keys = [tuple(token.text for token in doc) for doc in docs]
        todo = {key: doc for key, doc in zip(keys, docs) if key not in self._cache}
        if todo:
            vocab = self.nlp.vocab
            inputs = [Doc(vocab, words=[t.text for t in doc],
                          spaces=[bool(t.whitespace_) for t in doc]) for doc in todo.values()]
            for key, predicted in zip(todo, self.nlp.pipe(inputs, batch_size=self.batch_size)):
                self._cache[key] = [(ent.start, ent.end, ent.label_) for ent in predicted.ents]
        return [self._cache[key] for key in keys]


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

