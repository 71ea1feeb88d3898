"""Thinc architectures: ``spacy_dtn.DTNTagger.v1``/``v2`` and their default word embedding.

The tagger is a Thinc model of two layers: a spaCy ``tok2vec`` (``model.get_ref("tok2vec")``;
a listener works too) and a ``PyTorchWrapper`` whose shim (:mod:`spacy_dtn.layers.network_shim`)
builds :class:`spacy_dtn.nn.DTNNetwork` when the model is initialised with its tasks
(:class:`DTNTasks`) and saves it with its spec. Its input is a :class:`DTNInput` (docs, task,
gold tag ids or None); arrays cross into PyTorch by ``xp2torch`` on the shim's device, so the
same code runs under numpy and cupy. Only this module reaches into the shim; the rest of the
plugin uses :func:`get_network`, :func:`get_labels` and :func:`drop_sources`.
"""
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy
import torch
from spacy.attrs import ORTH
from spacy.ml.models import MultiHashEmbed
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.types import Floats2d, Ints1d

from .layers.network_shim import NetworkShim, NetworkSpec
from .layers.static_vectors import build_optional_vectors
from .layers.transition_model import build_transition_models
from .nn import DECODERS, DTNNetwork, NetworkConfig, parse_sharing
from .label_maps import LabelMap
from .nn.network import UNANNOTATED


def _single_thread_after_fork() -> None:
    """``nlp.pipe(n_process=N)`` forks; an OpenMP pool used before the fork hangs the child.

    Each worker process is one of N anyway, so it runs PyTorch on one thread.
    """
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_thread_after_fork)


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


def build_word_embed(
    width: int = 100,
    attrs: Sequence[str] = ("NORM", "PREFIX", "SUFFIX", "SHAPE"),
    rows: Sequence[int] = (5000, 1000, 2500, 2500),
    include_static_vectors: bool = True,
) -> Model[List[Doc], List[Floats2d]]:
    """``spacy_dtn.WordEmbed.v1``: ``emb_word``, spaCy's hash embedding, mixed with the
    vocab's static vectors.

    A context-free embedding, as in the paper (the BiLSTM does the contextualising). With
    ``include_static_vectors`` the vocab's vectors (GloVe through ``spacy init vectors``) are
    projected in; a vocab without vectors contributes zeros, so one config serves both. The
    table is kept and saved with the weights (:mod:`spacy_dtn.layers.static_vectors`), so
    the component reads the vectors it was trained with in any pipeline it is added to.

    width (int): The output width, the word vectors' size. If in doubt, 100 (the paper's).
    attrs (Sequence[str]): The token attributes hashed into embedding tables, one table
        each (as spaCy's ``MultiHashEmbed``). If in doubt, NORM, PREFIX, SUFFIX and SHAPE.
    rows (Sequence[int]): The rows of each attribute's table; hashing lets them be few.
        If in doubt, 5000, 1000, 2500, 2500.
    include_static_vectors (bool): Project the vocab's static vectors in when it has some
        (zeros when it has none). If in doubt, true.
    """
    embed = MultiHashEmbed(
        width=width, attrs=list(attrs), rows=list(rows),
        include_static_vectors=include_static_vectors,
    )
    embed.set_dim("nO", width)  # the tagger sizes its word encoder from it
    if include_static_vectors:
        static = next(node for node in embed.walk() if node.name == "static_vectors")
        optional = build_optional_vectors(static, width)
        # Not spacy.util.replace_model_node: its walk would reach the new node, which holds
        # `static` as its layer, and replace that too (a model containing itself).
        for node in list(embed.walk()):
            if node is not optional and static in node.layers:
                node.layers[node.layers.index(static)] = optional
    return embed


#: The paper's sizes and rates ("Model Settings"): the defaults of both tagger versions.
_PAPER = NetworkConfig()
#: Characters kept of a word (first and last halves of a longer one).
MAX_WORD_CHARS = 32


def build_dtn_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    sharing: str = _PAPER.sharing,
    char_embed: int = _PAPER.char_embed,
    char_hidden: int = _PAPER.char_hidden,
    word_hidden: int = _PAPER.word_hidden,
    decoder_hidden: int = _PAPER.decoder_hidden,
    tag_embed: int = _PAPER.tag_embed,
    dropout: float = _PAPER.dropout,
    share_lambda: float = _PAPER.share_lambda,
    n_char_buckets: int = _PAPER.n_char_buckets,
    max_word_chars: int = MAX_WORD_CHARS,
    mixed_precision: bool = False,
    word_width: Optional[int] = None,
    normalize: bool = True,
    label_map: LabelMap = "name",
    decoder: str = _PAPER.decoder,
    unannotated: str = _PAPER.unannotated,
    shared_gate_bias: float = _PAPER.shared_gate_bias,
) -> Model[DTNInput, DTNOutput]:
    """``spacy_dtn.DTNTagger.v2``: the DTN tagger. Its PyTorch network is built when the
    model is initialised with its tasks (:class:`DTNTasks`, from the component).

    ``v2`` adds ``normalize``, ``label_map`` and ``decoder`` to ``v1`` (the paper's network,
    which is what pipelines saved by 0.1.0 name and compute: :func:`build_dtn_tagger_v1`).
    The defaults are the paper's sizes and rates (:class:`spacy_dtn.nn.NetworkConfig`) and
    ``v2``'s own switches; the ``dtn_ner`` factory's default config, the recommended
    settings, changes only ``dropout``, and the project's configs are checked against it
    (``tests/test_configs.py``).

    tok2vec (Model[List[Doc], List[Floats2d]]): The word embeddings ``emb_word``, shared by
        all tasks. If in doubt, ``spacy_dtn.WordEmbed.v1``; a listener needs ``word_width``.
    sharing (str): How the tasks share the three components: ``dtn`` (hard and soft sharing
        mixed by two gates), ``dtn_hs`` (hard and soft, gate g1 only), ``baseline`` (the
        target alone), a TTN code (``HIS``: char encoder, word encoder, decoder each
        I(ndependent), H(ard) or S(oft) shared), ``T-B`` or ``T-C``. If in doubt, ``dtn``.
    char_embed (int): The size of the character embeddings. If in doubt, 25.
    char_hidden (int): The character BiLSTM's units per direction. If in doubt, 50.
    word_hidden (int): The word BiLSTM's units per direction. If in doubt, 100.
    decoder_hidden (int): The decoder LSTM's units. If in doubt, 50.
    tag_embed (int): The size of the previous-tag embedding the ``lstm`` decoder reads
        (unused by ``crf``). If in doubt, 50.
    dropout (float): Dropout after every LSTM and on the word embeddings, in PyTorch
        (spaCy's ``training.dropout`` reaches only the tok2vec's own layers). The default is
        the paper's 0.5. If in doubt, 0.4 (chosen on BC5CDR dev, with ``normalize``).
    share_lambda (float): λ of the soft-sharing penalty ``λ·‖θ_target − θ_source‖²``.
        If in doubt, 0.001 (near the cross-entropy at initialisation for these sizes).
    n_char_buckets (int): Characters are hashed into this many embedding rows.
        If in doubt, 2048.
    max_word_chars (int): A longer word keeps its first and last halves. If in doubt, 32.
    mixed_precision (bool): Autocast and a gradient scaler around the network, on a CUDA
        GPU only (training on the CPU is refused). If in doubt, false.
    word_width (Optional[int]): The width of the tok2vec's output; null: its ``nO``. Set it
        for a tok2vec that learns its width only from data, e.g. a ``TransformerListener``
        (the transformer's hidden size). If in doubt, null.
    normalize (bool): Scale each component's output to zero mean, unit variance per token
        (no parameters); without it stacked fresh LSTMs train on a long all-``O`` plateau.
        If in doubt, true.
    label_map (Union[None, str, Dict[str, Any]]): Label-mapped output sharing (Yang et
        al.'s T-A): ``"name"`` ties a source label to the target label of the same name, a
        table ``{source label: target label}`` ties the pairs given for every source, a table
        per source task ``{source task: {source label: target label}}`` ties each source's
        own pairs (a source it does not name keeps its outputs), null ties nothing. A tied
        label has one tag embedding and output row for both tasks; a pair naming a task or
        label that no corpus has is an error. If in doubt, ``"name"``.
    decoder (str): ``"lstm"``, the paper's decoder (the previous tag fed back, greedy
        decoding), or ``"crf"``: the decoder LSTM reads the word encoder's output only and
        a linear-chain CRF per task scores whole tag sequences (Viterbi decoding;
        ``tag_embed`` unused). Level with ``"lstm"`` on BC5CDR dev and faster on small
        batches. If in doubt, ``"lstm"``.
    unannotated (str): What a token outside a tied source's entities says about the
        target's labels: ``"O"``, that it is none of them; ``"unknown"``, nothing about the
        labels the source does not annotate (NCBI-disease's chemicals: the loss there is
        -log P(O or any tag of those labels), partial annotation); ``"any"``, nothing about
        any target label, tied ones included (the source teaches where its entities are,
        never that a token is not one). ``lstm`` decoder only. If in doubt, ``"O"``.
    shared_gate_bias (float): The initial bias of each component's gate g2 (``dtn``), which
        mixes the target's independent path (1 - g2) with the shared one (g2): 0 starts
        even (the paper), a negative value starts the target on its own path, as without
        transfer. If in doubt, 0.
    """
    config = NetworkConfig(
        sharing=sharing, char_embed=char_embed, char_hidden=char_hidden,
        word_hidden=word_hidden, decoder_hidden=decoder_hidden, tag_embed=tag_embed,
        dropout=dropout, share_lambda=share_lambda, n_char_buckets=n_char_buckets,
        normalize=normalize, label_map=label_map, decoder=decoder, unannotated=unannotated,
        shared_gate_bias=shared_gate_bias,
    )
    parse_sharing(sharing)  # fail early, at config time, on an unknown sharing setting
    if decoder not in DECODERS:
        raise ValueError(f"dtn_ner: unknown decoder {decoder!r}; choose one of {DECODERS}.")
    if unannotated not in UNANNOTATED:
        raise ValueError(
            f"dtn_ner: unannotated must be one of {UNANNOTATED}, got {unannotated!r}."
        )
    if unannotated != "O" and decoder != "lstm":
        raise ValueError(f"dtn_ner: unannotated = {unannotated!r} needs decoder = \"lstm\".")
    wrapper = Model(
        "dtn_pytorch",
        pytorch_forward,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": _convert_outputs},
        shims=[NetworkShim(config, mixed_precision=mixed_precision)],
    )
    return DTNTaggerModel(
        "dtn_tagger",
        _forward,
        init=_init,
        layers=[tok2vec, wrapper],
        refs={"tok2vec": tok2vec},
        attrs={"max_word_chars": max_word_chars, "word_width": word_width},
    )


def build_dtn_tagger_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    sharing: str = _PAPER.sharing,
    char_embed: int = _PAPER.char_embed,
    char_hidden: int = _PAPER.char_hidden,
    word_hidden: int = _PAPER.word_hidden,
    decoder_hidden: int = _PAPER.decoder_hidden,
    tag_embed: int = _PAPER.tag_embed,
    dropout: float = _PAPER.dropout,
    share_lambda: float = _PAPER.share_lambda,
    n_char_buckets: int = _PAPER.n_char_buckets,
    max_word_chars: int = MAX_WORD_CHARS,
    mixed_precision: bool = False,
    word_width: Optional[int] = None,
) -> Model[DTNInput, DTNOutput]:
    """``spacy_dtn.DTNTagger.v1``: the paper's network exactly, as saved by 0.1.0.

    ``v2`` (:func:`build_dtn_tagger`) with ``normalize = false``, no ``label_map`` and the
    ``lstm`` decoder; kept so that pipelines trained before ``v2`` load and predict as they
    did.

    tok2vec, sharing, char_embed, char_hidden, word_hidden, decoder_hidden, tag_embed,
    dropout, share_lambda, n_char_buckets, max_word_chars, mixed_precision, word_width:
        as for ``spacy_dtn.DTNTagger.v2``, defaults included.
    """
    return build_dtn_tagger(
        tok2vec, sharing=sharing, char_embed=char_embed, char_hidden=char_hidden,
        word_hidden=word_hidden, decoder_hidden=decoder_hidden, tag_embed=tag_embed,
        dropout=dropout, share_lambda=share_lambda, n_char_buckets=n_char_buckets,
        max_word_chars=max_word_chars, mixed_precision=mixed_precision, word_width=word_width,
        normalize=False, label_map=None,
    )


def build_dtn_transition_model(
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    sharing: str = "dtn",
    share_lambda: float = 0.001,
    hidden_width: int = 64,
    maxout_pieces: int = 2,
    source: str = "source",
    label_map: Union[None, str, Dict[str, str]] = None,
) -> Model:
    """``spacy_dtn.DTNTransitionModel.v1``: spaCy's ``ner`` model per task, DTN-shared.

    The model of ``dtn_transition_ner`` (:mod:`spacy_dtn.layers.gated_encoder`).

    embed (Model[List[Doc], List[Floats2d]]): The token embedding, shared by every task.
        If in doubt, spaCy's ``spacy.MultiHashEmbed.v2``.
    encode (Model[List[Floats2d], List[Floats2d]]): The context encoder; its copies are the
        hard (shared), soft (one per task) and independent (target) paths. If in doubt,
        ``spacy.MaxoutWindowEncoder.v2``.
    sharing (str): ``dtn`` (both gates), ``dtn_hs`` (hard and soft, gate g1 only) or
        ``baseline`` (the target alone: spaCy's ``ner`` with an inline tok2vec). If in
        doubt, ``dtn``.
    share_lambda (float): λ of the soft-sharing penalty ``λ·‖θ_target − θ_source‖²``.
        If in doubt, 0.001.
    hidden_width (int): The hidden width of each task's transition-based output layer
        (``spacy.TransitionBasedParser.v2``). If in doubt, 64.
    maxout_pieces (int): The maxout pieces of that layer. If in doubt, 2.
    source (str): The name of the source task (``spacy_dtn.TransferCorpus.v1``'s
        ``source_name``). If in doubt, ``source``.
    label_map (Union[None, str, Dict[str, str]]): Label-mapped output sharing (Yang et al.'s
        T-A) for the output layers: "name" makes the source's action for a label and the
        target's action for the label of the same name one row of weights (``O`` too); a
        table ``{source label: target label}`` maps explicitly; null ties nothing. If in
        doubt, null (the default).
    """
    return build_transition_models(
        embed, encode, sharing=sharing, share_lambda=share_lambda,
        hidden_width=hidden_width, maxout_pieces=maxout_pieces, source=source,
        label_map=label_map,
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


@dataclass
class _Batch:
    words: Any  # (N, W) xp floats, flat
    char_ids: Any  # (U, L) xp ints
    char_lengths: numpy.ndarray  # (U,)
    token_index: Any  # (N,) xp ints
    lengths: numpy.ndarray  # (B,)
    task: str
    gold: Any  # (N,) xp ints or None
    return_gates: bool


def _featurize(model: Model, X: DTNInput, rows, tokvecs, lengths) -> _Batch:
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
    return _Batch(
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


def _convert_inputs(model: Model, batch: _Batch, is_train: bool):
    device = model.shims[0].device
    words = xp2torch(batch.words, requires_grad=is_train, device=device)
    kwargs = {"task": batch.task, "return_gates": batch.return_gates}
    if batch.gold is not None:
        kwargs["gold"] = xp2torch(batch.gold, device=device)
    args = (
        words,
        xp2torch(batch.char_ids, device=device),
        torch.from_numpy(batch.char_lengths),  # packing wants CPU lengths
        xp2torch(batch.token_index, device=device),
        torch.from_numpy(batch.lengths),
    )

    def reverse(d_inputs: ArgsKwargs):
        return torch2xp(d_inputs.args[0])

    return ArgsKwargs(args=args, kwargs=kwargs), reverse


def _convert_outputs(model: Model, inputs_outputs, is_train: bool):
    batch, (first, second) = inputs_outputs
    if batch.gold is None:
        gates = {name: torch2xp(value) for name, value in second.items()}
        return (torch2xp(first), gates), lambda d: None
    loss, penalty = first, second
    penalty_value = float(penalty.detach()) if penalty is not None else 0.0

    def backprop(d_loss: float) -> ArgsKwargs:
        tensors, grads = [loss], [torch.full_like(loss, d_loss)]
        if penalty is not None:
            tensors.append(penalty)
            grads.append(torch.full_like(penalty, d_loss))
        return ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads})

    return (float(loss.detach()), penalty_value), backprop
