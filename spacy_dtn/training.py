"""Training data for ``spacy train``: the reader and the batcher of the multi-task DTN.

The DTN learns a small target corpus and one or more related source corpora at once, one task
per batch (``spacy_dtn.tasks``). spaCy's training loop knows nothing of tasks; it asks the
``[corpora.train]`` reader for examples and the ``[training.batcher]`` for batches. So the two
registered functions here are where tasks enter ``spacy train``, and nothing of spaCy's loop is
copied:

* ``spacy_dtn.TransferCorpus.v1`` reads the DocBins with spaCy's own :class:`spacy.training.Corpus`,
  keeps the seeded fraction of the target (:func:`spacy_dtn.subsample.subsample`, the same
  selection as ``python -m spacy_dtn subsample``) and marks every example's gold doc with its task.
* ``spacy_dtn.batch_by_task.v1`` splits the (shuffled) example stream by task, batches each task
  with spaCy's :func:`~spacy.training.batchers.minibatch_by_words` and interleaves the batches.

Both are registered through the ``spacy_readers`` / ``spacy_batchers`` entry points, so a config
finds them without importing this package.
"""
import itertools
import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Corpus, Example
from spacy.training.batchers import minibatch_by_words
from spacy.vocab import Vocab
from wasabi import msg

from .label_maps import LabelMap, label_pairs, source_label_map, unannotated_labels
from .subsample import subsample
from .tasks import SOURCE, TARGET, get_task, set_task
from .teacher import Teacher, complete

# A child of spaCy's logger: it shares spaCy's handler and level, so ``spacy train`` shows its
# warnings the way it shows its own.
logger = logging.getLogger("spacy.dtn")
_REPORTED: Set[str] = set()  # reports already given in this process (see _report)

PathsT = Union[str, Path, Sequence[Union[str, Path]], None]
BatcherT = Callable[[Iterable[Example]], Iterator[List[Example]]]


class TaskCorpus(Corpus):
    """spaCy's :class:`Corpus` for one task, with a seeded subsample and counted length skips.

    Everything about reading DocBins, ``limit``, ``gold_preproc`` and ``max_length`` is spaCy's:
    a doc of ``max_length`` tokens or more is split into its sentences when it has sentence
    boundaries, and a doc or sentence that is still that long is left out. spaCy leaves such
    examples out silently; here they are counted (``n_skipped``, ``n_skipped_tokens``) so the
    reader can report them.
    """

    def __init__(
        self,
        path: Union[str, Path],
        task: str,
        *,
        fraction: float = 1.0,
        seed: int = 0,
        max_length: int = 0,
        gold_preproc: bool = False,
        limit: int = 0,
    ) -> None:
        super().__init__(path, limit=limit, gold_preproc=gold_preproc, max_length=max_length)
        self.task = task
        self.fraction = fraction
        self.seed = seed
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.n_docs_total = 0
        self.n_docs_kept = 0
        self.n_examples = 0
        self.n_skipped = 0
        self.n_skipped_tokens = 0

    def __call__(self, nlp: Language) -> Iterator[Example]:
        """Yield the task's examples, each gold doc marked with the task (counts restart)."""
        self._reset_counts()
        for eg in super().__call__(nlp):
            set_task(eg.reference, self.task)
            self.n_examples += 1
            yield eg

    def read_docbin(self, vocab: Vocab, locs: Iterable[Union[str, Path]]) -> Iterator[Doc]:
        """spaCy's reading (``limit`` included), then the seeded subsample of the docs read."""
        docs = list(super().read_docbin(vocab, locs))
        self.n_docs_total = len(docs)
        if self.fraction < 1.0:
            docs = subsample(docs, self.fraction, self.seed)
        self.n_docs_kept = len(docs)
        return iter(docs)

    def make_examples(self, nlp: Language, reference_docs: Iterable[Doc]) -> Iterator[Example]:
        """spaCy's ``make_examples``, doc by doc, counting what its ``max_length`` leaves out."""
        for reference in reference_docs:
            n_kept_tokens = 0
            for eg in super().make_examples(nlp, [reference]):
                n_kept_tokens += len(eg.reference)
                yield eg
            self.n_skipped += _count_too_long(reference, self.max_length)
            self.n_skipped_tokens += len(reference) - n_kept_tokens


def _count_too_long(reference: Doc, max_length: int) -> int:
    """How many pieces (whole docs or sentences) spaCy's ``max_length`` rule drops from a doc."""
    if max_length <= 0 or len(reference) < max_length:
        return 0
    if reference.has_annotation("SENT_START"):
        return sum(1 for sent in reference.sents if len(sent) >= max_length)
    return 1


class TransferCorpus:
    """The examples of the target corpus (a seeded fraction of it) and of the source corpora.

    Calling it with the ``nlp`` object yields the target's examples, then every source's; the
    training loop shuffles them and ``spacy_dtn.batch_by_task.v1`` groups them by task. After
    the first complete pass it reports the counts once (and warns once about examples left out
    by ``max_length``); ``stats`` holds the counts of the latest complete pass.
    """

    def __init__(
        self,
        target: TaskCorpus,
        sources: Sequence[TaskCorpus],
        label_map: LabelMap = "name",
        teacher: Optional[Teacher] = None,
    ) -> None:
        self.target = target
        self.sources = list(sources)
        self.label_map = label_map
        self.teacher = teacher
        self.stats: Dict[str, Dict[str, int]] = {}
        #: Entities the teacher added to each source task in the latest pass.
        self.n_completed: Dict[str, int] = {}
        self._reported = False

    @property
    def corpora(self) -> List[TaskCorpus]:
        return [self.target, *self.sources]

    def __call__(self, nlp: Language) -> Iterator[Example]:
        yield from self.examples(nlp)
        self.stats = _collect_stats(self.corpora)
        if not self._reported:
            self._reported = True
            _report(self.target, self.sources, self.n_completed)

    def examples(self, nlp: Language) -> Iterator[Example]:
        """One pass over every corpus's examples, each marked with its task."""
        target_labels: Set[str] = set()
        for eg in self.target(nlp):
            target_labels.update(ent.label_ for ent in eg.reference.ents)
            yield eg
        for corpus in self.sources:
            yield from self.source_examples(nlp, corpus, target_labels)

    def source_examples(
        self, nlp: Language, corpus: TaskCorpus, target_labels: Set[str]
    ) -> Iterator[Example]:
        """One source's examples, relabelled (:meth:`relabel`) and completed by the teacher."""
        if self.teacher is None and type(self).relabel is TransferCorpus.relabel:
            # nothing to change: stream the examples (the rest reads a source's labels first)
            yield from corpus(nlp)
            return
        examples = list(corpus(nlp))
        labels = sorted({ent.label_ for eg in examples for ent in eg.reference.ents})
        table = source_label_map(self.label_map, corpus.task)
        pairs = label_pairs(labels, sorted(target_labels), table) if table else {}
        missing = set(unannotated_labels(labels, sorted(target_labels), table))
        predicted = self.teacher.entities([eg.reference for eg in examples]) \
            if self.teacher is not None and missing else [[] for _ in examples]
        self.n_completed[corpus.task] = 0
        for eg, entities in zip(examples, predicted):
            gold = list(eg.reference.ents)  # every source entity blocks the teacher's
            self.relabel(eg.reference, pairs)
            self.n_completed[corpus.task] += complete(eg.reference, entities, missing, gold)
            yield eg

    def relabel(self, doc: Doc, pairs: Dict[str, str]) -> None:
        """A source doc's entities as the model reads them: here, as they are."""


def _collect_stats(corpora: Sequence[TaskCorpus]) -> Dict[str, Dict[str, int]]:
    stats: Dict[str, Dict[str, int]] = {}
    for corpus in corpora:
        entry = stats.setdefault(
            corpus.task,
            dict(docs_total=0, docs_kept=0, examples=0, skipped=0, skipped_tokens=0),
        )
        entry["docs_total"] += corpus.n_docs_total
        entry["docs_kept"] += corpus.n_docs_kept
        entry["examples"] += corpus.n_examples
        entry["skipped"] += corpus.n_skipped
        entry["skipped_tokens"] += corpus.n_skipped_tokens
    return stats


def _report(
    target: TaskCorpus, sources: Sequence[TaskCorpus], n_completed: Dict[str, int]
) -> None:
    """Print the counts (wasabi, like ``spacy train``'s own lines) and warn about skips (logger).

    spaCy builds the train reader twice (for ``nlp.initialize`` and for the loop), so a report
    identical to one already given in this process is not repeated.
    """
    lines = [(
        "info",
        f"TransferCorpus: target {target.path}: kept {target.n_docs_kept} of "
        f"{target.n_docs_total} docs (fraction {target.fraction}, seed {target.seed}), "
        f"{target.n_examples} examples",
    )]
    for source in sources:
        lines.append((
            "info",
            f"TransferCorpus: source '{source.task}' {source.path}: {source.n_docs_kept} docs, "
            f"{source.n_examples} examples"
            + (f", {n_completed[source.task]} entities added by the teacher"
               if source.task in n_completed else ""),
        ))
    for corpus in [target, *sources]:
        if corpus.n_skipped:
            lines.append((
                "warning",
                f"TransferCorpus: {corpus.path} ({corpus.task}): skipped {corpus.n_skipped} "
                f"docs/sentences of max_length={corpus.max_length} tokens or more "
                f"({corpus.n_skipped_tokens} tokens in all)",
            ))
    report_once(lines)


def report_once(lines: Sequence[tuple]) -> None:
    """Print each ``(level, line)``: ``"info"`` by wasabi, like ``spacy train``'s own lines,
    anything else as a logger warning. spaCy builds a train reader twice (for
    ``nlp.initialize`` and for the loop), so a line already given in this process is not
    repeated."""
    for level, line in lines:
        if line in _REPORTED:
            continue
        _REPORTED.add(line)
        if level == "info":
            msg.info(line)
        else:
            logger.warning(line)


def _split_paths(paths: PathsT) -> List[Path]:
    """One path, a list of paths, or comma-separated paths (``--paths.source a.spacy,b.spacy``)."""
    if paths is None:
        return []
    if isinstance(paths, (str, Path)):
        paths = str(paths).split(",")
    return [Path(str(p).strip()) for p in paths if str(p).strip()]


def _source_names(source_name: str, n_paths: int) -> List[str]:
    """One name for all source paths (one task split over files), or one name per path."""
    names = [name.strip() for name in source_name.split(",") if name.strip()] or [SOURCE]
    if len(names) == 1:
        return names * n_paths
    if len(names) != n_paths:
        raise ValueError(
            f"TransferCorpus: {len(names)} source names ({source_name!r}) for {n_paths} source "
            "paths; give one name for all, or one per path"
        )
    return names


def _no_target(nlp: Language) -> Iterator[Example]:
    """The reader of a config whose ``[paths] target`` is still null: an error when read.

    spaCy's tools (``spacy debug config``, ``debug model``) resolve the readers of a config
    without reading them, as they do ``spacy.Corpus.v1`` with ``paths.train = null``.
    """
    raise ValueError(
        "TransferCorpus: no target corpus: set [paths] target (e.g. --paths.target "
        "corpus/bc5cdr/train.spacy)"
    )
    yield  # a generator function, like every reader


def create_transfer_corpus(
    target: Optional[Path],
    source: PathsT = None,
    target_fraction: float = 1.0,
    seed: int = 0,
    max_length: int = 0,
    source_name: str = SOURCE,
    gold_preproc: bool = False,
    limit: int = 0,
    label_map: LabelMap = "name",
    teacher: Optional[Path] = None,
) -> Callable[[Language], Iterator[Example]]:
    """The reader ``spacy_dtn.TransferCorpus.v1``.

    target (Optional[Path]): DocBin file or directory of the target corpus (task
        ``"target"``); null (a config whose paths are not set yet) is an error when read.
    source: None (target only, e.g. the baseline), one DocBin path, or several (a list, or
        comma-separated). They are read in full.
    target_fraction (float): share of the target docs kept, selected by
        :func:`spacy_dtn.subsample.subsample` with ``seed`` after ``limit``.
    max_length, gold_preproc, limit: as in ``spacy.Corpus.v1``, applied to every corpus.
    source_name (str): the task name of the source examples; comma-separated names give each
        source path its own task.
    label_map: which target labels each source annotates, read only with a ``teacher``:
        ``"name"``, a table ``{source label: target label}`` or one per source task, as the
        model's ``label_map``.
    teacher (Optional[Path]): a pipeline trained on the target alone. Its entities of the
        target labels that a source does not annotate join that source's gold where they
        overlap no gold entity (``spacy_dtn.teacher``); null: the sources as they are.
    """
    if not 0.0 < target_fraction <= 1.0:
        raise ValueError(
            f"TransferCorpus: target_fraction must lie in (0, 1], got {target_fraction}"
        )
    if target is None:
        return _no_target
    options = dict(max_length=max_length, gold_preproc=gold_preproc, limit=limit)
    target_corpus = TaskCorpus(target, TARGET, fraction=target_fraction, seed=seed, **options)
    source_paths = _split_paths(source)
    names = _source_names(source_name, len(source_paths))
    if TARGET in names:
        raise ValueError(f"TransferCorpus: a source can't be named {TARGET!r}")
    sources = [TaskCorpus(path, name, **options) for path, name in zip(source_paths, names)]
    return TransferCorpus(target_corpus, sources, label_map,
                          Teacher(teacher) if teacher is not None else None)


class PooledCorpus(TransferCorpus):
    """The target and the sources as one corpus of target examples, labels mapped.

    What a spaCy user does with several public corpora and a stock ``ner``: pool them, each
    source's labels renamed to the target's by the label map (``spacy_dtn.label_maps``'s
    ``"name"``, one table, or a table per source task) and its other entities dropped, so
    their tokens read as ``O``. Every example is the target task's. It is the stock anchor of
    the several-sources comparison (``ner_pooled``), not a setting of the DTN.
    """

    def relabel(self, doc: Doc, pairs: Dict[str, str]) -> None:
        """The source's entities renamed to the target's labels, the rest dropped; task target."""
        doc.set_ents([Span(doc, ent.start, ent.end, label=pairs[ent.label_])
                      for ent in doc.ents if ent.label_ in pairs], default="outside")
        set_task(doc, TARGET)


def create_pooled_corpus(
    target: Optional[Path],
    source: PathsT = None,
    target_fraction: float = 1.0,
    seed: int = 0,
    max_length: int = 0,
    source_name: str = SOURCE,
    gold_preproc: bool = False,
    limit: int = 0,
    label_map: LabelMap = "name",
    teacher: Optional[Path] = None,
) -> Callable[[Language], Iterator[Example]]:
    """The reader ``spacy_dtn.PooledCorpus.v1``: target and sources pooled into one task.

    target, source, target_fraction, seed, max_length, source_name, gold_preproc, limit: as
        in ``spacy_dtn.TransferCorpus.v1`` (``source_name`` names the sources that a table per
        source task refers to).
    label_map: ``"name"`` (a source label that is a target label stays), a table
        ``{source label: target label}`` for every source, or ``{source task: {source label:
        target label}}``; a source entity with no target label is dropped (its tokens ``O``).
    teacher (Optional[Path]): as in ``spacy_dtn.TransferCorpus.v1``: the target labels a
        source does not annotate are completed with the teacher's entities, not left ``O``.
    """
    corpus = create_transfer_corpus(target, source, target_fraction, seed, max_length,
                                    source_name, gold_preproc, limit, label_map, teacher)
    if corpus is _no_target:
        return corpus
    return PooledCorpus(corpus.target, corpus.sources, corpus.label_map, corpus.teacher)


class BatchByTask:
    """Single-task batches, each task batched by spaCy's ``minibatch_by_words``, interleaved.

    A call is one pass over the examples it is given (spaCy's loop calls it once per epoch).

    Interleaving rule:

    * ``target_proportion=None``: every batch of every task exactly once per pass. The next
      batch's task is drawn with probability proportional to the number of batches that task
      has left, which makes every interleaving equally likely while keeping each task's batches
      in order (so a growing size schedule still grows within each task).
    * ``target_proportion=p`` (0 < p < 1): the next batch is a target batch with probability
      ``p`` and a source batch with probability ``1 - p`` (split among several source tasks in
      proportion to their numbers of examples), independently of what came before, so the
      expected share of target batches is ``p`` at every point of the pass. A task that runs out
      of batches before the pass ends starts over: its examples are shuffled (seeded) and batched
      again. The pass ends as soon as every task has yielded all its batches at least once, so
      every example is seen at least once per pass, and the smaller task is oversampled.

    When the stream holds a single task, its batches are yielded once, in order. The random
    draws come from one ``random.Random(seed)`` kept across passes: each epoch differs, and a
    rerun with the same seed and the same example stream gives the same batches.

    ``size`` follows spaCy's batchers: an int, a list, or a schedule (``compounding.v1``, a
    generator in Thinc 8). Each task reads its own copy of a schedule, from its start, and
    continues it across passes, as spaCy's single-task ``batch_by_words`` does.
    """

    def __init__(
        self,
        size,
        tolerance: float = 0.2,
        discard_oversize: bool = False,
        get_length: Optional[Callable[[Example], int]] = None,
        target_proportion: Optional[float] = None,
        seed: int = 0,
    ) -> None:
        if target_proportion is not None and not 0.0 < target_proportion < 1.0:
            raise ValueError(
                "batch_by_task: target_proportion must be None (every batch once, randomly "
                f"interleaved) or lie strictly between 0 and 1, got {target_proportion}"
            )
        self.size = size
        self.tolerance = tolerance
        self.discard_oversize = discard_oversize
        self.get_length = get_length
        self.target_proportion = target_proportion
        self.rng = random.Random(seed)
        self._schedules: Dict[str, object] = {}
        self._schedule_source = None

    def _size_for(self, task: str):
        """The size (schedule) a task batches with: its own copy of a one-shot schedule."""
        if isinstance(self.size, (int, Sequence)):
            return self.size
        if task not in self._schedules:
            if self._schedule_source is None:
                self._schedule_source = iter(self.size)
            # tee: the new copy starts where the untouched source stands, i.e. at the start.
            self._schedule_source, copy = itertools.tee(self._schedule_source)
            self._schedules[task] = copy
        return self._schedules[task]

    def _batches(self, task: str, examples: List[Example]) -> List[List[Example]]:
        optionals = {"get_length": self.get_length} if self.get_length is not None else {}
        return list(
            minibatch_by_words(
                examples,
                size=self._size_for(task),
                tolerance=self.tolerance,
                discard_oversize=self.discard_oversize,
                **optionals,
            )
        )

    def __call__(self, examples: Iterable[Example]) -> Iterator[List[Example]]:
        by_task: Dict[str, List[Example]] = defaultdict(list)
        for eg in examples:
            by_task[get_task(eg)].append(eg)
        # Target first, then sources by name: the draws must not depend on dict order.
        tasks = sorted(by_task, key=lambda task: (task != TARGET, task))
        if len(tasks) <= 1 or self.target_proportion is None or TARGET not in by_task:
            yield from self._each_batch_once(tasks, by_task)
        else:
            yield from self._in_proportion(tasks, by_task)

    def _each_batch_once(
        self, tasks: List[str], by_task: Dict[str, List[Example]]
    ) -> Iterator[List[Example]]:
        queues = {task: self._batches(task, by_task[task]) for task in tasks}
        queues = {task: batches[::-1] for task, batches in queues.items() if batches}
        while queues:
            names = list(queues)
            task = self.rng.choices(names, weights=[len(queues[n]) for n in names])[0]
            yield queues[task].pop()
            if not queues[task]:
                del queues[task]

    def _in_proportion(
        self, tasks: List[str], by_task: Dict[str, List[Example]]
    ) -> Iterator[List[Example]]:
        p = self.target_proportion
        sources = [task for task in tasks if task != TARGET]
        n_source = sum(len(by_task[task]) for task in sources)
        weights = [p] + [(1.0 - p) * len(by_task[task]) / n_source for task in sources]
        order = [TARGET] + sources
        queues = {task: self._batches(task, by_task[task])[::-1] for task in order}
        unfinished = {task for task in order if queues[task]}
        while unfinished:
            task = self.rng.choices(order, weights=weights)[0]
            if not queues[task]:
                pool = list(by_task[task])
                self.rng.shuffle(pool)
                queues[task] = self._batches(task, pool)[::-1]
                if not queues[task]:  # everything discarded as oversize
                    continue
            yield queues[task].pop()
            if not queues[task]:
                unfinished.discard(task)


def configure_batch_by_task(
    size,
    tolerance: float = 0.2,
    discard_oversize: bool = False,
    get_length: Optional[Callable[[Example], int]] = None,
    target_proportion: Optional[float] = None,
    seed: int = 0,
) -> BatcherT:
    """The batcher ``spacy_dtn.batch_by_task.v1``: see :class:`BatchByTask` for the rule.

    size, tolerance, discard_oversize, get_length: as in ``spacy.batch_by_words.v1``, per task.
    target_proportion: None, or the share of target batches (0 < p < 1).
    seed: seed of the interleaving.
    """
    return BatchByTask(
        size,
        tolerance=tolerance,
        discard_oversize=discard_oversize,
        get_length=get_length,
        target_proportion=target_proportion,
        seed=seed,
    )
