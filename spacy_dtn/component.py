"""The ``dtn_ner`` pipeline component: a ``TrainablePipe`` around ``spacy_dtn.DTNTagger.v2``.

It learns one label set per task (the target and any named source) in ``initialize`` from
the examples of each task (see :mod:`spacy_dtn.tasks` for how an example names its task;
unmarked examples are target examples) and hands them to its model, which builds its network
from them and saves them with its weights: the component holds no state of its own and
serialises as any ``TrainablePipe`` (its model keeps the static vectors it was trained with,
so it predicts the same in any pipeline it is added to). Every ``update`` trains on a batch
of one task. ``predict``/``set_annotations`` write the target's entities to ``doc.ents``, or
to ``doc.spans[spans_key]`` so the component can sit beside a ``ner``.
"""
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate

from .extensions import GATES_EXTENSION, register_extensions
from .iobes import TagSet
from .layers.static_vectors import adopt_vectors
from .layers.tagger import (
    DTNInput, DTNOutput, DTNTasks, drop_sources, get_labels, get_network,
    set_drop_sources_on_load,
)
from .tasks import TARGET, batch_task, get_task, skip_batch

register_extensions()

#: The recommended settings: ``DTNTagger.v2``'s defaults (the paper's sizes and rates, see
#: :func:`spacy_dtn.architectures.build_dtn_tagger`) but for the dropout. The one place they
#: are chosen: spaCy fills in the rest, and tests/test_configs.py checks the project's
#: configs against the filled result.
DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_dtn.DTNTagger.v2"
# The paper's 0.5 is the architecture's default; 0.4 was chosen on BC5CDR dev.
dropout = 0.4

[model.tok2vec]
@architectures = "spacy_dtn.WordEmbed.v1"
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "dtn_ner",
    assigns=["doc.ents"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": None,
        "store_gates": False,
        "drop_source": False,
        "scorer": {"@scorers": "spacy_dtn.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_dtn_ner(
    nlp: Language,
    name: str,
    model: Model,
    spans_key: Optional[str],
    store_gates: bool,
    drop_source: bool,
    scorer: Optional[Callable],
) -> "DTNEntityRecognizer":
    """Create a ``dtn_ner`` component.

    nlp (Language): The pipeline (its vocab is the component's).
    name (str): The component's name in the pipeline.
    model (Model[DTNInput, DTNOutput]): The tagger. If in doubt, the default
        (:data:`DEFAULT_MODEL_CONFIG`: ``spacy_dtn.DTNTagger.v2`` with the recommended
        settings).
    spans_key (Optional[str]): Write entities to ``doc.spans[spans_key]`` instead of
        ``doc.ents``, e.g. beside a ``ner``. If in doubt, null (``doc.ents``).
    store_gates (bool): Put the per-token gate values on ``doc._.dtn_gates`` (paper,
        Figure 4). If in doubt, false.
    drop_source (bool): Drop the source-only parameters whenever the pipeline is loaded
        (for inference: the target's entities are unchanged). If in doubt, false.
    scorer (Optional[Callable]): Called with ``spans_key`` (the component's ``cfg``, as
        spaCy's ``spancat`` does). The default, ``spacy_dtn.ner_scorer.v1``
        (:mod:`spacy_dtn.scorers`), scores ``doc.ents`` as spaCy's ``ner`` scorer does when
        ``spans_key`` is null; with ``spans_key`` it scores the spans under
        ``spans_{spans_key}_p/r/f`` (set ``[training.score_weights]`` to
        ``spans_{spans_key}_f``), so a ``ner`` beside keeps its own ``ents_*``. If in doubt,
        ``spacy_dtn.ner_scorer.v1``.
    """
    return DTNEntityRecognizer(
        nlp.vocab, model, name, spans_key=spans_key, store_gates=store_gates,
        drop_source=drop_source, scorer=scorer,
    )


class DTNEntityRecognizer(TrainablePipe):
    """Named entities of a target task, learnt with the help of source tasks (a DTN)."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "dtn_ner",
        *,
        spans_key: Optional[str] = None,
        store_gates: bool = False,
        drop_source: bool = False,
        scorer: Optional[Callable] = None,
    ):
        """Settings come from the config (see :func:`make_dtn_ner`); what training learns,
        the labels included, lives in ``model``."""
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        # What Pipe.score hands the scorer, as spancat's cfg. Saved with the pipeline, never
        # loaded back (see from_disk): spans_key is a setting of the config, changeable on load.
        self.cfg = {"spans_key": spans_key}
        self.store_gates = store_gates
        self.drop_source = drop_source
        set_drop_sources_on_load(model, drop_source)
        self._added_labels: List[str] = []  # add_label's, until initialize
        self._skipped_batches: Dict[str, int] = {}

    @property
    def spans_key(self) -> Optional[str]:
        """Where the entities go: ``doc.spans[spans_key]``, or ``doc.ents`` when None."""
        return self.cfg["spans_key"]

    # Labels and tasks -------------------------------------------------------------------

    @property
    def labels(self) -> List[str]:
        """The target task's entity labels."""
        return self.label_data[TARGET]

    @property
    def label_data(self) -> Dict[str, List[str]]:
        """Entity labels per task, as passed to ``initialize(labels=...)``; the model's once
        initialised (the target's only once the sources are dropped)."""
        return get_labels(self.model) or {TARGET: list(self._added_labels)}

    @property
    def tasks(self) -> List[str]:
        """The tasks the component was initialised with, the target first."""
        return list(self.label_data)

    def add_label(self, label: str) -> int:
        """Add a target label before ``initialize`` (which builds the network for its
        labels); 1 if it is new, else 0."""
        if get_labels(self.model):
            raise ValueError("dtn_ner: add labels before initialize (the network is built then).")
        if label in self._added_labels:
            return 0
        self._added_labels.append(label)
        return 1

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Dict[str, Sequence[str]]] = None,
    ) -> None:
        """Learn each task's labels from its examples (or take ``labels``) and build the network."""
        validate_get_examples(get_examples, "DTNEntityRecognizer.initialize")
        if labels is None:
            found: Dict[str, set] = {TARGET: set(self.labels)}
            for example in get_examples():
                task_labels = found.setdefault(get_task(example), set())
                task_labels.update(ent.label_ for ent in example.reference.ents)
            labels = found
        labels = {task: sorted(values) for task, values in labels.items()}
        if TARGET not in labels or not labels[TARGET]:
            raise ValueError(
                f"dtn_ner found no entity labels for the target task {TARGET!r}: are the "
                "training examples annotated with doc.ents?"
            )
        sample = [eg.predicted for eg in islice(get_examples(), 10)]
        self.model.initialize(X=sample, Y=DTNTasks(TARGET, labels))

    @property
    def network(self):
        """The PyTorch :class:`spacy_dtn.nn.DTNNetwork` (built by ``initialize`` or loaded)."""
        return get_network(self.model)

    def drop_source_task(self) -> None:
        """Remove every source-only parameter (source LSTMs, tag embedding, output layer).

        Target predictions are unchanged and the saved pipeline is smaller; the component
        can no longer train on source batches.
        """
        drop_sources(self.model)

    # Loading ----------------------------------------------------------------------------

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "DTNEntityRecognizer":
        """Load as any ``TrainablePipe`` but for ``cfg``, which the config sets (a pipeline
        saved by 0.1.0 kept other things there); a model saved before models kept their
        vectors table takes the pipeline's
        (:func:`spacy_dtn.layers.static_vectors.adopt_vectors`)."""
        super().from_bytes(bytes_data, exclude=(*exclude, "cfg"))
        adopt_vectors(self.model, self.vocab.vectors)
        return self

    def from_disk(self, path, *, exclude=tuple()) -> "DTNEntityRecognizer":
        """Load as :meth:`from_bytes` does."""
        super().from_disk(path, exclude=(*exclude, "cfg"))
        adopt_vectors(self.model, self.vocab.vectors)
        return self

    # Training ---------------------------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd=None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One step on a batch of one task; the loss adds the weighted soft-sharing penalty.

        Besides ``losses[name]``, the loss of each task is kept in ``losses[f"{name}:{task}"]``.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "DTNEntityRecognizer.update")
        task = batch_task(examples)
        network = self.network
        if task not in network.tagsets:
            if task in self.label_data:
                skip_batch(self._skipped_batches, self.name, self.network.config.sharing,
                           list(network.tagsets), task)
                return losses
            raise ValueError(
                f"dtn_ner got a batch of task {task!r}, which it was not initialized with "
                f"(tasks: {self.tasks})."
            )
        tagset = network.tagsets[task]
        gold = [self._gold_tag_ids(eg, tagset) for eg in examples]
        docs = [eg.predicted for eg in examples]
        set_dropout_rate(self.model, drop)
        output, backprop = self.model.begin_update(DTNInput(docs, task, gold))
        if not output.rows:  # empty docs only: nothing to learn
            return losses
        loss, d_loss = self.get_loss(examples, output)
        backprop(d_loss)
        if sgd is not None:
            self.finish_update(sgd)
        total = loss + output.penalty
        losses[self.name] += total
        key = f"{self.name}:{task}"
        losses[key] = losses.get(key, 0.0) + total
        return losses

    @property
    def skipped_batches(self) -> Dict[str, int]:
        """Batches left out because the sharing setting gives their task no parameters."""
        return dict(self._skipped_batches)

    def _gold_tag_ids(self, example: Example, tagset: TagSet):
        """Gold IOBES tag ids on the predicted tokens; -1 where unknown or misaligned.

        Where both docs have the same tokens (a corpus read with its own tokenisation) the ids
        come straight from the reference's entity codes; otherwise through spaCy's alignment.
        """
        predicted, reference = example.predicted, example.reference
        orths = predicted.to_array(ORTH)
        if len(orths) == len(reference) and (orths == reference.to_array(ORTH)).all():
            codes = reference.to_array([ENT_IOB, ENT_TYPE])
            strings = reference.vocab.strings
            labels = [strings[int(key)] if key else "" for key in codes[:, 1]]
            return tagset.encode_iob(codes[:, 0], labels)
        return numpy.asarray(tagset.encode(example.get_aligned_ner()), dtype="int64")

    def get_loss(self, examples: Iterable[Example], scores: DTNOutput) -> Tuple[float, float]:
        """The batch's loss and its gradient with respect to that loss (1.0).

        The network computes the loss in PyTorch, where its scores are, from the gold tags of
        ``examples`` passed to the forward pass: the token cross-entropy of the ``lstm``
        decoder or the ``crf``'s negative log-likelihood, averaged over the known tokens. It
        backpropagates from the loss itself, so no gradient of the scores comes back here.
        """
        return scores.loss, 1.0

    # Prediction -------------------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> DTNOutput:
        """The target's tags for the non-empty docs (and their gates with ``store_gates``)."""
        return self.model.predict(DTNInput(list(docs), TARGET, None, return_gates=self.store_gates))

    def set_annotations(self, docs: Iterable[Doc], output: DTNOutput) -> None:
        """Write the predicted entities to ``doc.ents`` (or ``doc.spans[spans_key]``) and,
        if predicted, the gates to ``doc._.dtn_gates``; an empty doc gets no entities."""
        docs = list(docs)
        tagset = self.network.tagsets[TARGET]
        key = self.spans_key
        tags = self.model.ops.to_numpy(output.tags) if output.rows else None
        gates = {n: self.model.ops.to_numpy(v) for n, v in output.gates.items()}
        spans_by_doc: Dict[int, List[Span]] = {i: [] for i in range(len(docs))}
        start = 0
        for doc_index, length in zip(output.rows, output.lengths):
            doc, end = docs[doc_index], start + length
            spans_by_doc[doc_index] = [
                Span(doc, s, e, label=label) for s, e, label in tagset.decode(tags[start:end])
            ]
            if gates:
                doc._.set(
                    GATES_EXTENSION,
                    {name: value[start:end].tolist() for name, value in gates.items()},
                )
            start = end
        for doc_index, doc in enumerate(docs):
            if key is None:
                doc.ents = spans_by_doc[doc_index]
            else:
                doc.spans[key] = spans_by_doc[doc_index]
