"""Start ``dtn_transition_ner`` from a trained spaCy ``ner``: stock spaCy's pre-training, then
the DTN's sharing.

A spaCy user who has pooled their public corpora trains a stock ``tok2vec`` + ``ner`` on the
pool (``configs/ner_pooled.cfg``). :func:`copy_trained_ner` puts its weights into every path
of the DTN on spaCy's ``ner``: the shared embedding gets the trained embedding, each copy of
the context encoder (hard, soft per task, independent) gets the trained encoder, and the
target's output (projection, ``lower``, ``upper``) gets the trained ``ner``'s, whose actions
must be the target's. The sources' outputs keep their fresh weights: their labels are their
own. Since every path starts as the same encoder, the target's gated mixture starts as the
trained ``tok2vec``'s output whatever the gates say, so training starts where the stock
model stopped and the gates learn from there what to share.
"""
from pathlib import Path
from typing import List, Union

from thinc.api import Model

from .transition_model import action_names, task_view


def copy_trained_ner(component, path: Union[str, Path]) -> None:
    """Copy a trained pipeline's ``tok2vec`` and ``ner`` into an initialised component.

    component: a ``DTNTransitionNER`` whose recognizers are initialised (actions known).
    path: a pipeline folder (e.g. ``model-best`` of ``configs/ner_pooled.cfg``) holding an
        ``ner`` (a listener's ``tok2vec`` component, or an inline ``tok2vec``) of the same
        architecture and widths as the component's config.
    """
    import spacy
    from spacy.pipeline import EntityRecognizer

    nlp = spacy.load(path)
    recognizers = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, EntityRecognizer)]
    if len(recognizers) != 1:
        raise ValueError(
            f"{component.name}: the pretrained pipeline {path} has {len(recognizers)} ner "
            "components; it needs exactly one"
        )
    trained = recognizers[0]
    wanted, have = action_names(component.target), action_names(trained)
    if sorted(wanted) != sorted(have):
        raise ValueError(
            f"{component.name}: the pretrained ner at {path} has the labels "
            f"{sorted(trained.labels)}, the target {sorted(component.labels)}: train it on "
            "the target's labels (e.g. a label map)"
        )
    trained_tok2vec = _tok2vec_of(nlp, trained)
    target_parser = component.target.model
    tok2vec = target_parser.get_ref("tok2vec")
    _copy(trained_tok2vec.get_ref("embed"), tok2vec.layers[0].get_ref("embed"), path)
    for encoder in _encoders(component.model):
        _copy(trained_tok2vec.get_ref("encode"), encoder, path)
    _copy(trained.model.get_ref("tok2vec").layers[-1], tok2vec.layers[-1], path)
    for ref in ("lower", "upper"):
        _copy(trained.model.get_ref(ref), target_parser.get_ref(ref), path)
    upper = target_parser.get_ref("upper")
    rows = [have.index(action) for action in wanted]  # the same actions, maybe reordered
    for name in ("W", "b"):
        upper.set_param(name, upper.get_param(name)[rows].copy())


def _tok2vec_of(nlp, recognizer) -> Model:
    """The trained ``tok2vec`` (embed + encode) that ``recognizer`` reads."""
    first = recognizer.model.get_ref("tok2vec").layers[0]
    if first.name != "tok2vec-listener":
        return first
    for _, pipe in nlp.pipeline:
        if any(listener is first for listener in getattr(pipe, "listeners", [])):
            return pipe.model
    raise ValueError(f"the ner of {nlp.meta.get('name')} listens to no tok2vec of its pipeline")


def _encoders(container: Model) -> List[Model]:
    """The copies of the context encoder: the paths of every task's gated view (the hard
    one, shared by the views, comes once per task; copying it twice does no harm)."""
    views = [task_view(container.get_ref(task)) for task in container.attrs["tasks"]]
    return [view.get_ref(name) for view in views for name in ("hard", "soft", "independent")
            if view.has_ref(name)]


def _copy(source: Model, destination: Model, path) -> None:
    """Every parameter of ``source``'s nodes into the same node of ``destination``."""
    nodes, into_nodes = list(source.walk()), list(destination.walk())
    if [n.name for n in nodes] != [n.name for n in into_nodes]:
        raise ValueError(
            f"the pretrained model at {path} has a {source.name} of another architecture "
            f"than the component's {destination.name}"
        )
    for node, into in zip(nodes, into_nodes):
        for name in node.param_names:
            if not node.has_param(name):
                continue
            value = node.get_param(name)
            if not into.has_param(name) or into.get_param(name).shape != value.shape:
                raise ValueError(
                    f"the pretrained model at {path}: {node.name}.{name} has the shape "
                    f"{value.shape}, the component's {into.name} does not: give the config "
                    "the pretrained pipeline's widths"
                )
            into.set_param(name, into.ops.asarray(value).copy())
