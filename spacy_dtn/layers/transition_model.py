"""One transition-based NER model per task over a DTN-gated spaCy tok2vec.

The container returned by :func:`build_transition_models` holds the target's parser model
(``get_ref("target")``) and, unless ``sharing="baseline"``, the source's
(``get_ref(source)``), with each task's soft encoder as ``get_ref("soft:" + task)``. Both
are spaCy's ``TransitionBasedParser.v2`` (state type ``ner``) over ``embed`` (shared by the
tasks) and their task's view of the gated encoder (:mod:`spacy_dtn.layers.gated_encoder`).
The shared layers are the same Thinc nodes in both models, so the container's
``finish_update`` updates each parameter once and its ``to_bytes`` saves each once.
"""
from typing import Dict, List, Sequence, Tuple, Union

from spacy.ml.models.parser import build_tb_parser_model
from spacy.ml.models.tok2vec import build_Tok2Vec_model
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .gated_encoder import source_view, target_view

SHARINGS = ("dtn", "dtn_hs", "baseline")
LabelMapT = Union[None, str, Dict[str, str]]
TARGET = "target"


def build_transition_models(
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    sharing: str,
    share_lambda: float,
    hidden_width: int,
    maxout_pieces: int,
    source: str,
    label_map: LabelMapT = None,
) -> Model:
    """The container of the per-task parser models; see the module docstring."""
    if sharing not in SHARINGS:
        raise ValueError(
            f"sharing {sharing!r} is not one of {', '.join(SHARINGS)} for "
            "spacy_dtn.DTNTransitionModel.v1 (the TTN codes are dtn_ner's)"
        )
    if source == TARGET:
        raise ValueError(f"The source task cannot be called {TARGET!r}")
    views: Dict[str, Model] = {}
    softs: Dict[str, Model] = {}
    if sharing == "baseline":
        views[TARGET] = target_view(None, None, encode)
    else:
        hard, softs[TARGET], softs[source] = encode, encode.copy(), encode.copy()
        independent = encode.copy() if sharing == "dtn" else None
        views[TARGET] = target_view(hard, softs[TARGET], independent)
        views[source] = source_view(hard, softs[source])
    parsers: Dict[str, Model] = {}
    for task, view in views.items():
        if encode.has_dim("nO"):
            view.set_dim("nO", encode.get_dim("nO"))
        parsers[task] = build_tb_parser_model(
            build_Tok2Vec_model(embed, view),
            state_type="ner",
            extra_state_tokens=False,
            hidden_width=hidden_width,
            maxout_pieces=maxout_pieces,
            use_upper=True,
            nO=None,
        )
    return Model(
        "dtn_transition_models",
        _no_forward,
        layers=list(parsers.values()),
        refs={**parsers, **{f"soft:{task}": soft for task, soft in softs.items()}},
        attrs={"tasks": list(parsers), "sharing": sharing, "share_lambda": share_lambda,
               "label_map": label_map},
    )


def _no_forward(model: Model, X, is_train: bool):
    raise NotImplementedError(
        "The container of dtn_transition_ner is not called: each task's parser model is "
        f"(model.get_ref(task), tasks {model.attrs['tasks']})"
    )


def task_view(parser_model: Model) -> Model:
    """The gated encoder of a task's parser model (its tok2vec's ``encode``)."""
    return parser_model.get_ref("tok2vec").layers[0].get_ref("encode")


def soft_pair(model: Model, task: str):
    """``(task's soft encoder, the other task's)``, or None without soft sharing."""
    tasks = model.attrs["tasks"]
    if not model.has_ref(f"soft:{task}") or len(tasks) != 2:
        return None
    other = tasks[1 - tasks.index(task)]
    return model.get_ref(f"soft:{task}"), model.get_ref(f"soft:{other}")


def tied_actions(
    source_actions: Sequence[str], target_actions: Sequence[str], label_map: LabelMapT
) -> Tuple[List[int], List[int]]:
    """Rows of the source's and the target's output layer that are one action (T-A).

    Actions are named ``O``, ``U-`` (spaCy's action for an unlabelled entity) and
    ``B-/I-/L-/U-LABEL``. ``label_map="name"`` ties a source action to the target action
    of the same name; a table ``{source label: target label}`` ties the mapped labels' actions.
    ``O`` and ``U-`` are tied whenever one label is. None: nothing is tied.
    """
    if not label_map:
        return [], []
    if label_map != "name" and not isinstance(label_map, dict):
        raise ValueError(f"label_map must be null, \"name\" or a table, got {label_map!r}")
    target_rows = {name: row for row, name in enumerate(target_actions)}
    pairs = []
    for row, name in enumerate(source_actions):
        move, _, label = name.partition("-")
        if label and isinstance(label_map, dict):
            if label not in label_map:
                continue
            name = f"{move}-{label_map[label]}"
        if label and name in target_rows:
            pairs.append((row, target_rows[name]))
    if not pairs:
        return [], []
    for shared in ("O", "U-"):
        if shared in target_rows and shared in source_actions:
            pairs.append((list(source_actions).index(shared), target_rows[shared]))
    pairs.sort()
    return [p[0] for p in pairs], [p[1] for p in pairs]


def action_names(recognizer) -> List[str]:
    """The names of a recognizer's actions in the order of its output rows."""
    return [recognizer.moves.get_class_name(i) for i in range(recognizer.moves.n_moves)]
