"""The ``dtn_transition_ner`` component: spaCy's own ``ner`` per task, under DTN sharing.

The DTN's second architecture: its hard, soft and independent copies and its
per-token gates (eq. 1–4) put on spaCy's token encoder, with one transition-based output
per task (spaCy's ``EntityRecognizer`` with ``spacy.TransitionBasedParser.v2``). With
``sharing = "baseline"`` it computes exactly what spaCy's ``ner`` over an inline
``spacy.Tok2Vec.v2`` does. Examples carry their task as for ``dtn_ner``
(:mod:`spacy_dtn.tasks`); the target's entities go to ``doc.ents``.
"""
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import EntityRecognizer, TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from .layers.from_ner import copy_trained_ner
from .layers.gated_encoder import add_share_grad, share_penalty
from .layers.transition_model import action_names, soft_pair, tied_actions
from .tasks import TARGET, get_task, skip_batch

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_dtn.DTNTransitionModel.v1"
sharing = "dtn"
share_lambda = 0.001
hidden_width = 64
maxout_pieces = 2
source = "source"

[model.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = true

[model.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 96
depth = 4
window_size = 1
maxout_pieces = 3
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "dtn_transition_ner",
    assigns=["doc.ents"],
    default_config={
        "model": DEFAULT_MODEL,
        "update_with_oracle_cut_size": 100,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_dtn_transition_ner(
    nlp: Language,
    name: str,
    model: Model,
    update_with_oracle_cut_size: int,
    scorer: Optional[Callable],
) -> "DTNTransitionNER":
    """Create a ``dtn_transition_ner`` component.

    model: ``spacy_dtn.DTNTransitionModel.v1`` (one parser model per task).
    update_with_oracle_cut_size: as spaCy's ``ner``: train on sequences cut to about this
        many transitions.
    scorer: scores ``doc.ents`` (spaCy's ``spacy.ner_scorer.v1`` by default).
    """
    return DTNTransitionNER(
        nlp.vocab, model, name,
        update_with_oracle_cut_size=update_with_oracle_cut_size, scorer=scorer,
    )


class DTNTransitionNER(TrainablePipe):
    """One spaCy ``EntityRecognizer`` per task; they share layers of one Thinc container.

    ``self.model`` is the container (it updates and saves the shared layers once); the
    target's recognizer predicts. Each ``update`` trains the recognizer of each task present
    in the batch on that task's examples.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "dtn_transition_ner",
        *,
        update_with_oracle_cut_size: int = 100,
        scorer: Optional[Callable] = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"tasks": list(model.attrs["tasks"]), "sharing": model.attrs["sharing"]}
        self._skipped_batches: Dict[str, int] = {}
        self.recognizers: Dict[str, EntityRecognizer] = {
            task: EntityRecognizer(
                vocab, model.get_ref(task), name=f"{name}:{task}",
                update_with_oracle_cut_size=update_with_oracle_cut_size, scorer=None,
            )
            for task in self.cfg["tasks"]
        }

    @property
    def tasks(self) -> List[str]:
        """The tasks, target first (the console logger shows a loss column for each)."""
        return list(self.cfg["tasks"])

    @property
    def target(self) -> EntityRecognizer:
        return self.recognizers[TARGET]

    @property
    def labels(self):
        """The target's entity labels."""
        return self.target.labels

    @property
    def label_data(self):
        return self.target.label_data

    def add_label(self, label: str) -> int:
        """Add a target entity label (before ``initialize``)."""
        return self.target.add_label(label)

    def predict(self, docs: Iterable[Doc]):
        """The target recognizer's parse states for ``docs``."""
        return self.target.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], states) -> None:
        """Write the target's entities to ``doc.ents``."""
        self.target.set_annotations(docs, states)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[dict] = None,
        pretrained: Optional[Path] = None,
    ) -> None:
        """Learn each task's actions from its examples and initialise the shared model.

        labels: the target's actions, as for spaCy's ``ner`` (``spacy init labels``).
        pretrained: a trained pipeline (e.g. stock ``ner`` on the label-mapped pool,
            ``configs/ner_pooled.cfg``) whose ``tok2vec`` starts the embedding and every copy
            of the encoder, and whose ``ner`` the target's output
            (:func:`spacy_dtn.layers.from_ner.copy_trained_ner`); set in
            ``[initialize.components.NAME]``. None: fresh weights.
        """
        validate_get_examples(get_examples, "DTNTransitionNER.initialize")
        present = {get_task(eg) for eg in get_examples()}
        missing = [task for task in self.tasks if task not in present]
        others = sorted(present - set(self.tasks))
        if missing and others:
            raise ValueError(
                f"{self.name} takes one source task, {missing[0]!r}; the training corpus has "
                f"the source tasks {others}: read the source files as one task "
                f"(corpora.train.source_name = \"{missing[0]}\") or use dtn_ner, which takes "
                "each source as its own task"
            )
        if missing:
            raise ValueError(
                f"{self.name} (sharing {self.cfg['sharing']!r}) needs training examples of "
                f"the tasks {missing}; the training corpus has {sorted(present)}. Give a "
                "source corpus (paths.source with spacy_dtn.TransferCorpus.v1) or use "
                "sharing = \"baseline\"."
            )
        for task, recognizer in self.recognizers.items():
            recognizer.initialize(
                lambda task=task: (eg for eg in get_examples() if get_task(eg) == task),
                labels=labels if task == TARGET else None,
            )
        if pretrained is not None:
            copy_trained_ner(self, pretrained)
        self._tie_outputs(grads=False)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd=None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Train each task's recognizer on its examples; a task the model lacks is skipped.

        The losses go under ``NAME:TASK`` and their sum under ``NAME``.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "DTNTransitionNER.update")
        by_task: Dict[str, List[Example]] = {}
        for eg in examples:
            by_task.setdefault(get_task(eg), []).append(eg)
        for task, task_examples in by_task.items():
            if task not in self.recognizers:
                skip_batch(self._skipped_batches, self.name, self.cfg["sharing"], self.tasks, task)
                continue
            key = f"{self.name}:{task}"
            before = losses.get(key, 0.0)
            self.recognizers[task].update(task_examples, drop=drop, sgd=None, losses=losses)
            pair = soft_pair(self.model, task)
            if pair is not None:
                add_share_grad(*pair, self.model.attrs["share_lambda"])
            losses[self.name] += losses[key] - before
        if sgd not in (None, False):
            self.finish_update(sgd)
        return losses

    @property
    def skipped_batches(self) -> Dict[str, int]:
        """Batches left out because the sharing setting gives their task no parameters."""
        return dict(self._skipped_batches)

    def finish_update(self, sgd) -> None:
        """Update every parameter once; tied output rows (``label_map``) stay one row."""
        self._tie_outputs(grads=True)
        self.model.finish_update(sgd)
        self._tie_outputs(grads=False)

    def _tie_outputs(self, grads: bool) -> None:
        """Label-mapped output sharing: a source's tied rows of its output layer are the
        target's. ``grads``: move their gradients onto the target's rows (before an update);
        else copy the target's rows into the source's (after it)."""
        label_map = self.model.attrs.get("label_map")
        if not label_map:
            return
        target_upper = self.target.model.get_ref("upper")
        for task, recognizer in self.recognizers.items():
            if task == TARGET:
                continue
            rows, target_rows = tied_actions(
                action_names(recognizer), action_names(self.target), label_map
            )
            if not rows:
                continue
            upper = recognizer.model.get_ref("upper")
            for name in ("W", "b"):
                if not grads:
                    param = upper.get_param(name).copy()
                    param[rows] = target_upper.get_param(name)[target_rows]
                    upper.set_param(name, param)
                elif upper.has_grad(name):
                    grad = upper.get_grad(name)
                    if target_upper.has_grad(name):
                        target_grad = target_upper.get_grad(name)
                    else:
                        target_grad = target_upper.ops.alloc_f(target_upper.get_param(name).shape)
                    target_grad[target_rows] += grad[rows]
                    target_upper.set_grad(name, target_grad)
                    grad[rows] = 0
                    upper.set_grad(name, grad)

    def share_penalty(self) -> float:
        """``λ·‖θ_soft(target) − θ_soft(source)‖²`` now (0.0 without soft sharing)."""
        pair = soft_pair(self.model, TARGET)
        return 0.0 if pair is None else share_penalty(*pair, self.model.attrs["share_lambda"])

    def get_loss(self, examples, scores):
        raise NotImplementedError(
            "dtn_transition_ner computes its loss inside each task's EntityRecognizer.update"
        )

    def _parts(self) -> Dict[str, Tuple[Callable[[], bytes], Callable[[bytes], None]]]:
        """What is saved besides the vocab, as (dump, load) of bytes, one file each on disk:
        the cfg, each task's actions, then the model (loaded last: :meth:`_load_model`)."""
        parts = {"cfg": (lambda: srsly.json_dumps(self.cfg).encode("utf8"),
                         lambda b: self.cfg.update(srsly.json_loads(b)))}
        for task, recognizer in self.recognizers.items():
            parts[f"moves_{task}"] = (
                lambda r=recognizer: r.moves.to_bytes(exclude=["strings"]),
                lambda b, r=recognizer: r.moves.from_bytes(b, exclude=["strings"]),
            )
        parts["model"] = (self.model.to_bytes, self._load_model)
        return parts

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        serializers = {"vocab": lambda: self.vocab.to_bytes(exclude=exclude)}
        serializers.update({name: dump for name, (dump, _) in self._parts().items()})
        return util.to_bytes(serializers, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "DTNTransitionNER":
        deserializers = {"vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude)}
        deserializers.update({name: load for name, (_, load) in self._parts().items()})
        util.from_bytes(bytes_data, deserializers, exclude)
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        serializers = {"vocab": lambda p: self.vocab.to_disk(p, exclude=exclude)}
        serializers.update({name: lambda p, dump=dump: p.write_bytes(dump())
                            for name, (dump, _) in self._parts().items()})
        util.to_disk(path, serializers, exclude)

    def from_disk(self, path, *, exclude=tuple()) -> "DTNTransitionNER":
        deserializers = {"vocab": lambda p: self.vocab.from_disk(p, exclude=exclude)}
        deserializers.update({name: lambda p, load=load: load(p.read_bytes())
                              for name, (_, load) in self._parts().items()})
        util.from_disk(path, deserializers, exclude)
        return self

    def _load_model(self, data: bytes) -> None:
        """Size each task's output layer from its actions, then load the shared weights."""
        for recognizer in self.recognizers.values():
            recognizer._resize()
        self.model.from_bytes(data)
