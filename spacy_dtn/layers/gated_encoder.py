"""The DTN's sharing on spaCy's own token encoder (Thinc, no PyTorch).

spaCy's ``ner`` reads its tokens through a ``tok2vec``: an embedding (``MultiHashEmbed``) and
a context encoder (``MaxoutWindowEncoder``). Here the embedding is shared by every task, as
the DTN's word embeddings are, and the context encoder is the component under the DTN's
sharing schemes (the paper's eq. 1–4, as :mod:`spacy_dtn.nn.sharing` implements them in
PyTorch): copies of the encoder, run on the same embeddings, make ``h_hard`` (shared with
the source), ``h_soft`` (the task's own, pulled towards the other task's by
``λ·‖θ_target − θ_source‖²``) and ``h_ind`` (the target's own), and two per-token scalar
gates mix them::

    g1 = σ(Q·h_soft + R·h_hard + S·a + b1)     o_shared = (1 − g1)·h_hard + g1·h_soft
    g2 = σ(T·h_ind + U·o_shared + V·a + b2)    o_target = (1 − g2)·h_ind + g2·o_shared

``a`` is the token's embedding. The source's view is ``h_hard + h_soft(source)``. The
soft-sharing penalty's gradient is added by the component after each task's update
(:func:`add_share_grad`). Each view
is a ``Model[List[Floats2d], List[Floats2d]]``, a drop-in ``encode`` for a spaCy tok2vec, so
each task's transition-based output layer (``spacy.TransitionBasedParser.v2``) reads its
view the way spaCy's ``ner`` reads its ``tok2vec``.
"""
from typing import Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats1d, Floats2d

GATE_PARAMS = {"g1": ("Q", "R", "S"), "g2": ("T", "U", "V")}


def target_view(
    hard: Optional[Model], soft: Optional[Model], independent: Optional[Model]
) -> Model[List[Floats2d], List[Floats2d]]:
    """The target's gated encoder: ``dtn`` (all three paths), ``dtn_hs`` (no ``independent``)
    or ``baseline`` (``independent`` alone: spaCy's own encoder, nothing shared)."""
    paths = {"hard": hard, "soft": soft, "independent": independent}
    refs = {name: layer for name, layer in paths.items() if layer is not None}
    return Model(
        "dtn_target_encoder",
        _target_forward,
        init=_target_init,
        layers=[refs[name] for name in ("hard", "soft", "independent") if name in refs],
        refs=refs,
        dims={"nO": None},
    )


def source_view(hard: Model, soft: Model) -> Model[List[Floats2d], List[Floats2d]]:
    """The source's encoder: ``h_hard + h_soft(source)``."""
    return Model(
        "dtn_source_encoder",
        _source_forward,
        init=_source_init,
        layers=[hard, soft],
        refs={"hard": hard, "soft": soft},
        dims={"nO": None},
    )


def gate_names(model: Model) -> List[str]:
    """The gates a target view has: ``["g1", "g2"]`` (dtn), ``["g1"]`` (dtn_hs) or none."""
    if not model.has_ref("hard"):
        return []
    return ["g1", "g2"] if model.has_ref("independent") else ["g1"]


def _target_init(model: Model, X: Optional[List[Floats2d]] = None, Y=None) -> Model:
    for layer in model.layers:
        layer.initialize(X=X)
    if X is not None:
        width = X[0].shape[1]
        for name in gate_names(model):
            for vector in GATE_PARAMS[name]:
                model.set_param(vector, model.ops.alloc1f(width))
            model.set_param(f"b_{name}", model.ops.alloc1f(1))
    return model


def _source_init(model: Model, X: Optional[List[Floats2d]] = None, Y=None) -> Model:
    for layer in model.layers:
        layer.initialize(X=X)
    return model


def _target_forward(model: Model, X: List[Floats2d], is_train: bool):
    ops = model.ops
    gates = gate_names(model)
    if not gates:
        return model.get_ref("independent")(X, is_train)
    lengths = [len(x) for x in X]
    a = ops.flatten(X)
    h_hard, back_hard = _run_flat(model.get_ref("hard"), X, is_train)
    h_soft, back_soft = _run_flat(model.get_ref("soft"), X, is_train)
    g1, z1_grad = _gate(model, "g1", h_soft, h_hard, a)
    o_shared = h_hard + g1[:, None] * (h_soft - h_hard)
    if "g2" in gates:
        h_ind, back_ind = _run_flat(model.get_ref("independent"), X, is_train)
        g2, z2_grad = _gate(model, "g2", h_ind, o_shared, a)
        output = h_ind + g2[:, None] * (o_shared - h_ind)
    else:
        output = o_shared

    def backprop(dY: List[Floats2d]) -> List[Floats2d]:
        d_out = ops.flatten(dY)
        d_a = ops.alloc2f(*a.shape)
        if "g2" in gates:
            d_g2 = (d_out * (o_shared - h_ind)).sum(axis=1)
            d_ind, d_shared, d_a2 = z2_grad(d_g2)
            d_ind += d_out * (1 - g2)[:, None]
            d_shared += d_out * g2[:, None]
            d_a += d_a2
            d_a += back_ind(d_ind)
        else:
            d_shared = d_out
        d_g1 = (d_shared * (h_soft - h_hard)).sum(axis=1)
        d_soft, d_hard, d_a1 = z1_grad(d_g1)
        d_soft += d_shared * g1[:, None]
        d_hard += d_shared * (1 - g1)[:, None]
        d_a += d_a1 + back_soft(d_soft) + back_hard(d_hard)
        return ops.unflatten(d_a, ops.asarray1i(lengths))

    return ops.unflatten(output, ops.asarray1i(lengths)), backprop


def _source_forward(model: Model, X: List[Floats2d], is_train: bool):
    ops = model.ops
    lengths = ops.asarray1i([len(x) for x in X])
    h_hard, back_hard = _run_flat(model.get_ref("hard"), X, is_train)
    h_soft, back_soft = _run_flat(model.get_ref("soft"), X, is_train)

    def backprop(dY: List[Floats2d]) -> List[Floats2d]:
        d_out = ops.flatten(dY)
        d_a = back_hard(d_out) + back_soft(d_out)
        return ops.unflatten(d_a, lengths)

    return ops.unflatten(h_hard + h_soft, lengths), backprop


def _run_flat(
    layer: Model, X: List[Floats2d], is_train: bool
) -> Tuple[Floats2d, Callable[[Floats2d], Floats2d]]:
    """Run a list-to-list encoder; output and backprop on flat (N, width) arrays."""
    Y, backprop = layer(X, is_train)
    lengths = layer.ops.asarray1i([len(y) for y in Y])

    def backprop_flat(dY: Floats2d) -> Floats2d:
        return layer.ops.flatten(backprop(layer.ops.unflatten(dY, lengths)))

    return layer.ops.flatten(Y), backprop_flat


def _gate(model: Model, name: str, first: Floats2d, second: Floats2d, a: Floats2d):
    """``g = σ(p·first + q·second + r·a + b)`` per row, and a function from dL/dg to the
    gradients of its three inputs (the parameters' gradients are added on the way)."""
    p, q, r = (model.get_param(v) for v in GATE_PARAMS[name])
    bias = model.get_param(f"b_{name}")
    g = model.ops.sigmoid(first @ p + second @ q + a @ r + bias[0])

    def grads(d_g: Floats1d) -> Tuple[Floats2d, Floats2d, Floats2d]:
        d_z = d_g * g * (1 - g)
        for vector, x in zip(GATE_PARAMS[name], (first, second, a)):
            model.inc_grad(vector, d_z @ x)
        model.inc_grad(f"b_{name}", d_z.sum(keepdims=True))
        return d_z[:, None] * p, d_z[:, None] * q, d_z[:, None] * r

    return g, grads


def add_share_grad(soft: Model, other_soft: Model, share_lambda: float) -> None:
    """Add the gradient of ``λ·‖θ_soft − θ_other‖²`` (``2λ(θ_soft − θ_other)``) to ``soft``."""
    for node, other_node in zip(soft.walk(), other_soft.walk()):
        for name in node.param_names:
            if node.has_param(name) and other_node.has_param(name):
                diff = node.get_param(name) - other_node.get_param(name)
                node.inc_grad(name, 2 * share_lambda * diff)


def share_penalty(soft: Model, other_soft: Model, share_lambda: float) -> float:
    """``λ·‖θ_soft − θ_other‖²`` over the parameters of two copies of one encoder."""
    total = 0.0
    for node, other_node in zip(soft.walk(), other_soft.walk()):
        for name in node.param_names:
            if node.has_param(name) and other_node.has_param(name):
                total += float(((node.get_param(name) - other_node.get_param(name)) ** 2).sum())
    return share_lambda * total
