"""Self-training: the gold examples plus an unlabeled archive labelled by a teacher pipeline.

A team has a few hundred labelled sentences and an archive nobody labelled. A trained
pipeline (any: spaCy ``ner``, ``dtn_ner``, ``dtn_transition_ner``), the teacher, labels the
archive once per training (:class:`spacy_dtn.teacher.Teacher`, the same teacher that completes
the sources); the student trains on the gold (and any sources) plus that silver. Round ``r``'s
student is round ``r + 1``'s teacher (``[paths] teacher``); a last stage on the gold alone is
``configs/ner_self_ft.cfg``.

The reader ``spacy_dtn.SelfTrainingCorpus.v1`` yields the examples of
``spacy_dtn.TransferCorpus.v1`` (the target's seeded fraction, the sources) and one silver
example per archive text:

* **Confidence.** Where the teacher's entities come from a ``dtn_ner`` with the ``lstm``
  decoder, each token has the probability the decoder gave its tag; a token under
  ``threshold`` is *missing* in the silver reference (spaCy's unknown NER annotation: ``-`` in
  BILUO, ``ENT_IOB`` 0), which spaCy's ``ner`` and ``dtn_ner`` (tag id -1, out of the loss)
  both leave out of the loss, rather than ``O``. An entity with any such token is missing
  whole: ``doc.ents`` can't hold part of an entity (:func:`confident_tokens`). spaCy's
  transition-based ``ner`` and ``dtn_transition_ner`` give no per-token probability: there
  every predicted token counts as confident, whatever the threshold.
* **Weight.** ``gold_repeats`` yields each gold target example that many times per pass,
  so a silver example weighs ``1 / gold_repeats`` of a gold one in every epoch (spaCy's loop
  reads the reader once and shuffles the list, so a per-pass share of silver would be one
  fixed subsample, not a weight).
* **Propagation.** With ``propagate``, what the teacher labels in most places (and an
  abbreviation defined beside an entity) is labelled everywhere else in the archive
  (:func:`spacy_dtn.propagation.propagate`, the gold informing the rules), before the
  confidence mask; the added tokens count as confident.
* **Never dev or test text.** An archive text whose characters (whitespace aside,
  :func:`spacy_dtn.archive.text_key`) are those of a gold target sentence or of a
  ``held_out`` corpus (dev, test) is dropped and counted in a warning; an archive with no
  text left is an error.

The archive is read by :func:`spacy_dtn.archive.read_unlabeled`: a DocBin, or annotate's JSONL
(or Parquet, ``.txt``) of notes, a record that is not valid UTF-8 counted and left out as
``annotate`` does.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

from .archive import ArchiveError, UnlabeledTexts, read_docs, read_unlabeled, text_key
from .label_maps import LabelMap
from .propagation import propagate as propagate_labels
from .tasks import SOURCE, TARGET, get_task, set_task
from .teacher import Annotation, EntityT, Teacher
from .training import (PathsT, TaskCorpus, TransferCorpus, _split_paths,
                       create_transfer_corpus, report_once)

# One teacher per trained pipeline in a process: spaCy resolves the train reader twice (for
# nlp.initialize and for the loop), and the archive should be labelled once.
_TEACHERS: Dict[Tuple[str, int], Teacher] = {}


def shared_teacher(path: Path) -> Teacher:
    """The process's :class:`Teacher` of the pipeline at ``path`` (as saved: a pipeline
    saved again at the same path is a new teacher)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"SelfTrainingCorpus: no such teacher pipeline {path}")
    meta = path / "meta.json"
    key = (str(path.resolve()), meta.stat().st_mtime_ns if meta.exists() else 0)
    if key not in _TEACHERS:
        _TEACHERS[key] = Teacher(path)
    return _TEACHERS[key]


def confident_tokens(n_tokens: int, annotation: Annotation, threshold: float) -> List[bool]:
    """Which tokens the silver reference keeps: confidence at least ``threshold``.

    No confidences (a transition-based teacher): every token. A token of an entity with an
    unconfident token is unconfident too, since an entity is kept whole or not at all.
    """
    if annotation.confidences is None:
        return [True] * n_tokens
    keep = [confidence >= threshold for confidence in annotation.confidences]
    for start, end, _ in annotation.entities:
        if not all(keep[start:end]):
            keep[start:end] = [False] * (end - start)
    return keep


def label_silver(doc: Doc, annotation: Annotation, threshold: float) -> int:
    """Set the teacher's confident entities on ``doc``, its unconfident tokens missing and the
    rest ``O``; returns the number of tokens left missing."""
    keep = confident_tokens(len(doc), annotation, threshold)
    entities = [Span(doc, start, end, label=label) for start, end, label in annotation.entities
                if keep[start]]
    missing = [doc[i: i + 1] for i, kept in enumerate(keep) if not kept]
    doc.set_ents(entities, missing=missing, default="outside")
    return len(missing)


@dataclass
class SilverStats:
    """What became of the archive's texts (the report of one reader)."""

    texts: int = 0
    silver: int = 0
    entities: int = 0
    tokens: int = 0
    missing_tokens: int = 0
    propagated: int = 0
    gold_duplicates: int = 0
    held_out_duplicates: int = 0


class SelfTrainingCorpus:
    """The gold examples of a :class:`TransferCorpus` and the teacher's silver of an archive.

    Calling it with the ``nlp`` object yields the gold target examples ``gold_repeats``
    times, the sources' once, then one example per silver doc (target task); the silver is
    made on the first call and kept. ``stats`` says what became of the archive.
    """

    def __init__(
        self,
        gold: TransferCorpus,
        unlabeled: Path,
        teacher: Teacher,
        *,
        threshold: float = 0.0,
        gold_repeats: int = 1,
        propagate: bool = False,
        held_out: Sequence[Path] = (),
        unlabeled_limit: int = 0,
        id_field: str = "id",
        text_field: str = "text",
    ) -> None:
        self.gold = gold
        self.unlabeled = Path(unlabeled)
        self.teacher = teacher
        self.threshold = threshold
        self.gold_repeats = gold_repeats
        self.propagate = propagate
        self.held_out = list(held_out)
        self.unlabeled_limit = unlabeled_limit
        self.id_field, self.text_field = id_field, text_field
        # spaCy's max_length and gold_preproc rules (and the counts of what they leave out)
        self.silver_corpus = TaskCorpus(self.unlabeled, TARGET, max_length=gold.target.max_length,
                                        gold_preproc=gold.target.gold_preproc)
        self.stats = SilverStats()
        self.texts: Optional[UnlabeledTexts] = None
        self._silver: Optional[List[Doc]] = None

    def __call__(self, nlp: Language) -> Iterator[Example]:
        gold = list(self.gold(nlp))
        for eg in gold:
            repeats = self.gold_repeats if get_task(eg) == TARGET else 1
            for _ in range(repeats):
                yield eg
        if self._silver is None:
            self._silver = self.make_silver(nlp, gold)
            self._report()
        self.silver_corpus._reset_counts()
        for eg in self.silver_corpus.make_examples(nlp, self._silver):
            self.silver_corpus.n_examples += 1
            yield eg

    def make_silver(self, nlp: Language, gold: Sequence[Example]) -> List[Doc]:
        """The archive's docs, minus gold and held-out sentences, labelled by the teacher."""
        texts = read_unlabeled(self.unlabeled, nlp.make_doc, nlp.vocab, self.id_field,
                               self.text_field)
        if self.unlabeled_limit > 0:
            texts.docs = texts.docs[: self.unlabeled_limit]
        self.texts = texts
        gold_keys = {text_key(eg.reference) for eg in gold if get_task(eg) == TARGET}
        held_out_keys: Set[str] = set()
        for path in self.held_out:
            if not path.exists():
                raise ArchiveError(f"SelfTrainingCorpus: held_out {path}: no such file")
            held_out_keys.update(text_key(doc) for doc in read_docs(path, nlp.vocab))
        stats = self.stats = SilverStats(texts=len(texts.docs))
        docs = []
        for doc in texts.docs:
            key = text_key(doc)
            if key in held_out_keys:
                stats.held_out_duplicates += 1
            elif key in gold_keys:
                stats.gold_duplicates += 1
            else:
                docs.append(doc)
        if not docs:
            raise ArchiveError(
                f"SelfTrainingCorpus: none of the {stats.texts} texts of {self.unlabeled} is "
                f"left to label ({stats.gold_duplicates} are gold train sentences, "
                f"{stats.held_out_duplicates} held-out sentences)")
        annotations = self.teacher.annotations(docs)
        if self.propagate:
            known = [(eg.reference, [(e.start, e.end, e.label_) for e in eg.reference.ents])
                     for eg in gold if get_task(eg) == TARGET]
            annotations = [self._with_propagated(annotation, entities) for annotation, entities
                           in zip(annotations, propagate_labels(
                               docs, [a.entities for a in annotations], known))]
        for doc, annotation in zip(docs, annotations):
            set_task(doc, TARGET)
            stats.missing_tokens += label_silver(doc, annotation, self.threshold)
            stats.entities += len(doc.ents)
            stats.tokens += len(doc)
        stats.silver = len(docs)
        return docs

    def _with_propagated(self, annotation: Annotation, entities: List[EntityT]) -> Annotation:
        """The teacher's annotation with the propagated ``entities`` (a superset of its own);
        their tokens count as confident."""
        self.stats.propagated += len(entities) - len(annotation.entities)
        confidences = annotation.confidences
        if confidences is not None:
            confidences = list(confidences)
            for start, end, _ in set(entities) - set(annotation.entities):
                confidences[start:end] = [1.0] * (end - start)
        return Annotation(entities, confidences)

    def _report(self) -> None:
        """Print what the archive gave (once per process) and warn about what it lost."""
        s, texts = self.stats, self.texts
        lines = [("info",
                  f"SelfTrainingCorpus: unlabeled {self.unlabeled}: {s.silver} of {s.texts} "
                  f"texts labelled by the teacher {self.teacher.path}: {s.entities} entities "
                  f"({s.propagated} of them propagated), "
                  f"{s.missing_tokens} of {s.tokens} tokens under threshold {self.threshold} "
                  f"left unknown; gold examples x{self.gold_repeats}")]
        if s.gold_duplicates or s.held_out_duplicates:
            lines.append(("warning",
                          f"SelfTrainingCorpus: {self.unlabeled}: dropped {s.gold_duplicates} "
                          f"texts that are gold train sentences and {s.held_out_duplicates} "
                          f"that are held-out (dev/test) sentences"))
        if texts is not None and texts.n_bad:
            lines.append(("warning", f"SelfTrainingCorpus: {texts.bad_report()}"))
        if texts is not None and texts.n_empty:
            lines.append(("warning", f"SelfTrainingCorpus: {self.unlabeled}: left out "
                                     f"{texts.n_empty} empty texts"))
        report_once(lines)


def _unset(what: str) -> Callable[[Language], Iterator[Example]]:
    """The reader of a config whose ``what`` is still null: an error when read (spaCy's tools
    resolve readers without reading them)."""

    def reader(nlp: Language) -> Iterator[Example]:
        raise ValueError(f"SelfTrainingCorpus: no {what}: set it (e.g. --{what} PATH)")
        yield  # a generator function, like every reader

    return reader


def create_self_training_corpus(
    target: Optional[Path],
    unlabeled: Optional[Path],
    teacher: Optional[Path],
    source: PathsT = None,
    target_fraction: float = 1.0,
    seed: int = 0,
    threshold: float = 0.0,
    gold_repeats: int = 1,
    held_out: PathsT = None,
    unlabeled_limit: int = 0,
    propagate: bool = False,
    id_field: str = "id",
    text_field: str = "text",
    max_length: int = 0,
    source_name: str = SOURCE,
    gold_preproc: bool = False,
    limit: int = 0,
    label_map: LabelMap = "name",
) -> Callable[[Language], Iterator[Example]]:
    """The reader ``spacy_dtn.SelfTrainingCorpus.v1``: gold plus a teacher's silver archive.

    target (Optional[Path]): the target train DocBin, as in ``spacy_dtn.TransferCorpus.v1``.
    unlabeled (Optional[Path]): the archive: a DocBin (its labels ignored; ``python -m
        spacy_dtn subsample --complement`` writes one) or what ``annotate`` reads (JSONL of
        ``{"id", "text"}``, Parquet, a folder of ``.txt``).
    teacher (Optional[Path]): the trained pipeline that labels the archive (once per
        training): spaCy ``ner``, ``dtn_ner`` or ``dtn_transition_ner``; round ``r``'s
        student is round ``r + 1``'s teacher.
    source: source DocBin(s), read in full as in ``spacy_dtn.TransferCorpus.v1`` (not
        completed by the teacher).
    target_fraction, seed: the seeded share of the target kept as gold.
    threshold (float): a token whose tag the teacher gave a probability under this is
        missing (unknown) in the silver, with the whole of its entity; 0 keeps every token.
        Only a ``dtn_ner`` teacher with the ``lstm`` decoder gives probabilities; with other
        teachers every token counts as confident.
    gold_repeats (int): each gold target example comes this many times per pass: a silver
        example weighs 1 / gold_repeats of a gold one.
    held_out: DocBin(s) (dev, test; comma-separated) whose sentences never train: an
        archive text with the same characters (whitespace aside) is dropped and counted, as
        is one that is a gold train sentence.
    unlabeled_limit (int): read at most this many archive texts (0: all).
    propagate (bool): label everywhere in the archive what the teacher and the gold label
        in most places, and abbreviations defined beside an entity
        (:func:`spacy_dtn.propagation.propagate`).
    id_field, text_field (str): the fields of a JSONL or Parquet archive, as annotate's.
    max_length, gold_preproc, limit: as in ``spacy.Corpus.v1`` (``limit`` for the gold,
        ``max_length`` and ``gold_preproc`` for the silver too).
    source_name, label_map: as in ``spacy_dtn.TransferCorpus.v1``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"SelfTrainingCorpus: threshold must lie in [0, 1], got {threshold}")
    if gold_repeats < 1:
        raise ValueError(f"SelfTrainingCorpus: gold_repeats must be 1 or more, got "
                         f"{gold_repeats}")
    gold = create_transfer_corpus(target, source, target_fraction, seed, max_length,
                                  source_name, gold_preproc, limit, label_map)
    if not isinstance(gold, TransferCorpus):  # no target yet: an error when read
        return gold
    if unlabeled is None:
        return _unset("paths.unlabeled")
    if teacher is None:
        return _unset("paths.teacher")
    return SelfTrainingCorpus(gold, Path(unlabeled), shared_teacher(Path(teacher)),
                              threshold=threshold, gold_repeats=gold_repeats,
                              propagate=propagate,
                              held_out=_split_paths(held_out), unlabeled_limit=unlabeled_limit,
                              id_field=id_field, text_field=text_field)
