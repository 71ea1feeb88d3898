"""The tagger's Thinc layer: a spaCy ``tok2vec`` and the network's ``PyTorchWrapper``.

The tagger is a Thinc model of two layers: a spaCy ``tok2vec`` (``model.get_ref("tok2vec")``;
a listener works too) and the PyTorch wrapper of :mod:`spacy_dtn.layers.network_shim`, whose
shim builds :class:`spacy_dtn.nn.DTNNetwork` when the model is initialised with its tasks
(:class:`DTNTasks`) and saves it with its spec. Its input is a :class:`DTNInput` (docs, task,
gold tag ids or None); each distinct word's characters are encoded here, once per batch.
Only this module reaches into the shim; the rest of the plugin uses :func:`get_network`,
:func:`get_labels` and :func:`drop_sources`. :class:`DTNTaggerModel` loads what 0.1.0 saved.
The registered builders (``spacy_dtn.DTNTagger.v1``/``v2``) are in
:mod:`spacy_dtn.architectures`.
"""
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Ints1d

from ..iobes import TagSet
from ..nn import DTNNetwork, NetworkConfig
from .network_shim import (NetworkBatch, NetworkShim, NetworkSpec, _convert_inputs,
                           build_network_layer)


@dataclass
class DTNInput:
    """One batch for the tagger: docs of one task, and gold tag ids (-1 = unknown) to train."""

    docs: List[Doc]
    task: str
    gold: Optional[List[Ints1d]] = None
    return_gates: bool = False


@dataclass
class DTNTasks:
    """What the tagger's ``initialize`` builds its network for (its ``Y``): the target task
    and each task's entity labels (the target's included)."""

    target: str
    labels: Dict[str, Sequence[str]]


@dataclass
class DTNOutput:
    """What the tagger returns for the non-empty docs of a batch (``rows`` index ``docs``).

    Arrays are flat: the tokens of ``docs[rows[0]]``, then of ``docs[rows[1]]``, ...
    Training: ``loss`` (float), the network's loss averaged over the known tokens, computed
    in PyTorch where the scores are (backpropagate from it with a gradient of 1.0), and
    ``penalty`` (float), the weighted soft-sharing penalty, backpropagated with it.
    Prediction: ``tags`` (N,) tag ids and ``gates`` ({"word_g1": (N,), ...}).
    """

    rows: List[int]
    lengths: List[int]
    loss: float = 0.0
    penalty: float = 0.0
    tags: Any = None
    gates: Dict[str, Any] = field(default_factory=dict)


def build_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    config: NetworkConfig,
    *,
    max_word_chars: int,
    mixed_precision: bool,
    word_width: Optional[int],
) -> Model[DTNInput, DTNOutput]:
    """The tagger over ``tok2vec`` for a network of ``config`` (built once initialised)."""
    wrapper = build_network_layer(config, mixed_precision=mixed_precision)
    return DTNTaggerModel(
        "dtn_tagger",
        _forward,
        init=_init,
        layers=[tok2vec, wrapper],
        refs={"tok2vec": tok2vec},
        attrs={"max_word_chars": max_word_chars, "word_width": word_width},
    )


class DTNTaggerModel(Model):
    """The tagger's Thinc model; a subclass only to load what 0.1.0 saved.

    0.1.0 kept the network's config and tasks in this model's attributes and saved bare
    weights in the shim. Thinc loads the attributes before the shim, so once loaded, the
    model hands them to the shim, which builds the network and loads its weights; the
    attributes are then removed, and the model saves as any other.
    """

    __slots__ = ()

    def from_dict(self, msg: Dict) -> "DTNTaggerModel":
        super().from_dict(msg)
        _load_saved_by_0_1_0(self)
        return self

    def _copy(self, seen=None) -> "DTNTaggerModel":
        copied = super()._copy(seen)  # Thinc's copy is a plain Model
        copied.__class__ = DTNTaggerModel
        return copied


def _load_saved_by_0_1_0(model: Model) -> None:
    tasks = model.attrs.pop("tasks", None)
    config = model.attrs.pop("network_config", None)
    model.attrs.pop("mixed_precision", None)
    shim = _shim(model)
    if shim.legacy_state is None:
        return
    if tasks is None or config is None:
        raise ValueError(
            "dtn_ner: these weights were saved by spacy_dtn 0.1.0 without the tasks they were "
            "trained for; train the pipeline again with this version."
        )
    config = NetworkConfig(**{**config, "word_width": _word_width(model)})
    shim.load_legacy(config, tasks["target"], tasks["labels"])


# The model's public API: the component and the tools use these, never the shim. --------


def get_network(model: Model) -> DTNNetwork:
    """The PyTorch network; built when the model is initialised with its tasks, or loaded."""
    network = _shim(model).network
    if network is None:
        raise ValueError("The DTN network is not built yet: initialize the component first.")
    return network


def get_labels(model: Model) -> Dict[str, List[str]]:
    """Each task's entity labels, the target's first; the target's only once the sources
    are dropped; empty before the model is initialised."""
    spec = _shim(model).spec
    return {} if spec is None else spec.task_labels()


def drop_sources(model: Model) -> None:
    """Remove every source-only parameter (source LSTMs, tag embedding, output layer).

    Target predictions are unchanged and the saved model is smaller; the model can no longer
    train on source batches.
    """
    get_network(model)  # fails clearly before initialize
    _shim(model).drop_sources()


def set_drop_sources_on_load(model: Model, drop: bool) -> None:
    """Drop the source-only parameters whenever weights are loaded (not saved: a setting)."""
    _shim(model).drop_sources_on_load = drop


def _shim(model: Model) -> NetworkShim:
    return model.layers[1].shims[0]


def _word_width(model: Model) -> int:
    tok2vec = model.get_ref("tok2vec")
    width = model.attrs["word_width"] or tok2vec.maybe_get_dim("nO")
    if not width:
        raise ValueError(
            f"Cannot tell the width of the tok2vec layer {tok2vec.name!r}: set "
            "'word_width' in the dtn_ner model config (the tok2vec's output width)."
        )
    return width


def _init(model: Model, X: Optional[List[Doc]] = None, Y: Optional[DTNTasks] = None) -> Model:
    """Build a fresh network for the tasks ``Y`` (replacing any earlier one) and initialise
    the tok2vec on the docs ``X``."""
    shim = _shim(model)
    if Y is not None:
        config = replace(shim.config, word_width=_word_width(model))
        tasks = sorted(Y.labels, key=lambda task: task != Y.target)  # the target first
        labels = {task: list(Y.labels[task]) for task in tasks}
        shim.build(NetworkSpec(config, Y.target, labels))
    elif shim.network is None:
        raise ValueError(
            "dtn_ner: initialize the tagger with its tasks, model.initialize(X=docs, "
            "Y=DTNTasks(target, labels)): its network is built from them."
        )
    docs = X.docs if isinstance(X, DTNInput) else X
    model.get_ref("tok2vec").initialize(X=docs)
    return model


def _forward(model: Model, X: DTNInput, is_train: bool) -> Tuple[DTNOutput, Callable]:
    """Tag the non-empty docs of ``X``: the one place where empty docs are left out.

    A batch of empty docs only does not reach the tok2vec (spaCy's embeddings fail on it);
    any other batch reaches it whole, as a listener expects the batch its tok2vec saw.
    """
    rows = [i for i, doc in enumerate(X.docs) if len(doc)]
    lengths = [len(X.docs[i]) for i in rows]
    if not rows:
        return DTNOutput(rows=[], lengths=[]), lambda d: []
    tok2vec = model.get_ref("tok2vec")
    tokvecs, backprop_tok2vec = tok2vec(X.docs, is_train)
    wrapper = model.layers[1]
    expected = get_network(model).config.word_width
    if tokvecs[rows[0]].shape[1] != expected:
        raise ValueError(
            f"dtn_ner: the tok2vec gives {tokvecs[rows[0]].shape[1]}-d vectors but the network "
            f"expects {expected}: set components.dtn_ner.model.word_width to the tok2vec's "
            "output width (for a transformer, its hidden_size)."
        )
    batch = _featurize(model, X, rows, [tokvecs[i] for i in rows], lengths)
    Y, backprop_wrapper = wrapper(batch, is_train)
    if X.gold is not None:
        output = DTNOutput(rows=rows, lengths=lengths, loss=Y[0], penalty=Y[1])
    else:
        output = DTNOutput(rows=rows, lengths=lengths, tags=Y[0], gates=Y[1])

    def backprop(d_output) -> List[Doc]:
        d_words = backprop_wrapper(d_output)
        d_kept = model.ops.unflatten(d_words, lengths)
        d_tokvecs = [model.ops.alloc2f(*vec.shape) for vec in tokvecs]
        for i, d in zip(rows, d_kept):
            d_tokvecs[i] = d
        return backprop_tok2vec(d_tokvecs)

    return output, backprop




def tag_probabilities(model: Model, docs: Sequence[Doc]) -> List[numpy.ndarray]:
    """The ``lstm`` decoder's tag distribution at each token of each doc, along ``doc.ents``.

    Greedy decoding picks each tag from ``P(y_t | y_<t, x)`` restricted to the tags that may
    follow the previous one (and end a sentence, at its end). Fed the docs' own tags as the
    previous tags (teacher forcing: what greedy decoding saw when the tags are its own), one
    forward pass in eval mode gives that distribution at every token: (len(doc), n_tags)
    per doc, in the order of the target's :class:`~spacy_dtn.iobes.TagSet`, zero where a tag
    may not follow. The docs must have been through the pipeline (a listener reads
    ``doc.tensor``). The ``crf`` decoder scores whole sequences and has no per-token
    distribution of this kind: an error.
    """
    network = get_network(model)
    if network.config.decoder != "lstm":
        raise ValueError(f"dtn_ner: per-token tag probabilities need the lstm decoder, this "
                         f"one is {network.config.decoder!r}")
    docs = list(docs)
    task = network.target
    tagset = network.tagsets[task]
    probabilities = [numpy.zeros((len(doc), len(tagset)), dtype="float32") for doc in docs]
    rows = [i for i, doc in enumerate(docs) if len(doc)]
    if not rows:
        return probabilities
    lengths = [len(docs[i]) for i in rows]
    tokvecs = model.get_ref("tok2vec").predict(docs)
    gold = [model.ops.asarray(ents_tag_ids(doc, tagset)) for doc in docs]
    batch = _featurize(model, DTNInput(docs, task, gold), rows, [tokvecs[i] for i in rows],
                       lengths)
    inputs, _ = _convert_inputs(model.layers[1], batch, False)
    tags = inputs.kwargs["gold"]
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            h, packing, _, _ = network.encode(*inputs.args, task)
            logits = network.teacher_forced_logits(task, h, packing, tags)
            prev = torch.cat([tags.new_zeros(1), tags[:-1].clamp(min=0)])
            prev[packing.starts] = tagset.start
            may = getattr(network, f"allowed_{task}")[prev]
            ends = packing.starts + torch.as_tensor(lengths, device=tags.device) - 1
            may[ends] &= getattr(network, f"end_ok_{task}")
            flat = logits.float().masked_fill(~may, float("-inf")).softmax(-1).cpu().numpy()
    finally:
        network.train(was_training)
    start = 0
    for i, length in zip(rows, lengths):
        probabilities[i] = flat[start: start + length]
        start += length
    return probabilities


def tag_confidences(model: Model, docs: Sequence[Doc]) -> List[numpy.ndarray]:
    """The probability :func:`tag_probabilities` gives each token's own tag, (len(doc),) per
    doc: the decoder's confidence in the tags it chose. 0.0 where a token's entity label is
    not the target's (another component's entity)."""
    docs = list(docs)
    network = get_network(model)
    tagset = network.tagsets[network.target]
    confidences = []
    for doc, probs in zip(docs, tag_probabilities(model, docs)):
        ids = ents_tag_ids(doc, tagset)
        chosen = probs[numpy.arange(len(doc)), numpy.maximum(ids, 0)]
        confidences.append(numpy.where(ids >= 0, chosen, 0.0).astype("float32"))
    return confidences


def ents_tag_ids(doc: Doc, tagset: TagSet) -> numpy.ndarray:
    """The target tag ids of a doc's entities (-1 where a label is not the target's)."""
    codes = doc.to_array([ENT_IOB, ENT_TYPE])
    strings = doc.vocab.strings
    labels = [strings[int(key)] if key else "" for key in codes[:, 1]]
    return tagset.encode_iob(codes[:, 0], labels)


def _featurize(model: Model, X: DTNInput, rows, tokvecs, lengths) -> NetworkBatch:
    """Flatten the word vectors and encode each distinct word's characters once per batch."""
    ops = model.ops
    docs = [X.docs[i] for i in rows]
    orths = numpy.concatenate([doc.to_array(ORTH) for doc in docs])
    unique, inverse = numpy.unique(orths, return_inverse=True)
    strings = docs[0].vocab.strings
    buckets = get_network(model).config.n_char_buckets
    max_chars = model.attrs["max_word_chars"]
    char_codes = [_char_codes(strings[int(key)], max_chars) for key in unique]
    char_lengths = numpy.array([len(c) for c in char_codes], dtype="int64")
    char_ids = numpy.zeros((len(unique), int(char_lengths.max())), dtype="int64")
    for i, codes in enumerate(char_codes):
        char_ids[i, : len(codes)] = codes % (buckets - 1) + 1
    gold = None
    if X.gold is not None:
        gold = ops.asarray(numpy.concatenate([ops.to_numpy(X.gold[i]) for i in rows]))
    return NetworkBatch(
        words=ops.flatten(tokvecs),
        char_ids=ops.asarray(char_ids),
        char_lengths=char_lengths,
        token_index=ops.asarray(inverse.reshape(-1).astype("int64")),
        lengths=numpy.array(lengths, dtype="int64"),
        task=X.task,
        gold=gold,
        return_gates=X.return_gates,
    )


def _char_codes(text: str, max_chars: int) -> numpy.ndarray:
    """Unicode code points of a word; a long word keeps its first and last halves."""
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + text[-(max_chars - half):]
    return numpy.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype("int64")
