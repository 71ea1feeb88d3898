"""The word embedding's static vectors, looked up in the table the model was trained with.

Why: spaCy's ``StaticVectors`` reads ``doc.vocab.vectors``, the vectors of whichever pipeline
made the docs. A ``dtn_ner`` added to another pipeline (``nlp.add_pipe("dtn_ner",
source=trained)``) would then find no vectors (``en_core_web_sm``) or other ones
(``en_core_web_md``). So the layer keeps the table it was initialised with in its attributes,
saved with its weights, and looks each token up there by the table's key attribute, as
``StaticVectors`` does in the docs' vocab: in its own pipeline the numbers are the same.

A model saved before layers kept their table has none; the component gives it the vectors of
the pipeline it is loaded into (:func:`adopt_vectors`), which is what it read then.
"""
from typing import Callable, List, Optional, Tuple

import numpy
import srsly
from spacy.attrs import ORTH
from spacy.strings import StringStore
from spacy.tokens import Doc
from spacy.vectors import Mode, Vectors
from thinc.api import Model, deserialize_attr, serialize_attr
from thinc.types import Floats2d, Ragged

NAME = "optional_vectors"


class OwnVectors:
    """The vectors table a layer was initialised with; None: none of its own (saved before
    layers kept theirs, or a vectors class other than spaCy's ``Vectors``).

    The table's key attribute is kept beside it: spaCy saves a table's ``attr`` for floret
    vectors only, so a table keyed by ``LOWER`` would come back keyed by ``ORTH``.
    """

    __slots__ = ("vectors", "attr")

    def __init__(self, vectors: Optional[Vectors] = None, attr: int = ORTH):
        self.vectors = vectors
        self.attr = attr

    def __deepcopy__(self, memo) -> "OwnVectors":
        return self  # never changed once made (a layer gets a new one): copies share the table


@serialize_attr.register(OwnVectors)
def _serialize_table(_, value: OwnVectors, name: str, model: Model) -> bytes:
    if value.vectors is None:
        return b""
    table = value.vectors.to_bytes(exclude=["strings"])
    return srsly.msgpack_dumps({"attr": value.attr, "vectors": table})


@deserialize_attr.register(OwnVectors)
def _deserialize_table(_, value: bytes, name: str, model: Model) -> OwnVectors:
    if not value:
        return OwnVectors()
    saved = srsly.msgpack_loads(value)
    # The keys are hashes: the table needs no strings to find them.
    table = Vectors(strings=StringStore()).from_bytes(saved["vectors"], exclude=["strings"])
    return OwnVectors(table, saved["attr"])


def build_optional_vectors(static_vectors: Model, width: int) -> Model[List[Doc], Ragged]:
    """spaCy's ``StaticVectors`` (its projection ``W``) over the table the vocab held at
    initialisation, or zeros when it held none.

    Whether vectors were found is kept in ``attrs["active"]`` and the table in
    ``attrs["table"]``, both serialised by Thinc, so a loaded pipeline behaves as the
    trained one did, whichever pipeline it is added to.
    """
    return Model(
        NAME,
        _forward,
        init=_init,
        layers=[static_vectors],
        attrs={"active": False, "table": OwnVectors()},
        dims={"nO": width},
    )


def make_vectors_optional(embed: Model, width: int) -> None:
    """Put :func:`build_optional_vectors` in place of ``embed``'s ``static_vectors`` node."""
    static = next(node for node in embed.walk() if node.name == "static_vectors")
    optional = build_optional_vectors(static, width)
    # Not spacy.util.replace_model_node: its walk would reach the new node, which holds
    # `static` as its layer, and replace that too (a model containing itself).
    for node in list(embed.walk()):
        if node is not optional and static in node.layers:
            node.layers[node.layers.index(static)] = optional


def adopt_vectors(model: Model, vectors) -> None:
    """Give each of ``model``'s vectors layers that was trained with vectors but holds no
    table (saved before layers kept theirs) the ``vectors`` of the pipeline it is loaded
    into, the table it read then."""
    for node in model.walk():
        if node.name == NAME and node.attrs["active"] and node.attrs["table"].vectors is None:
            node.attrs["table"] = _keep(vectors)


def _keep(vectors) -> OwnVectors:
    """The table to keep: spaCy's ``Vectors`` with rows (a custom class is read from the docs'
    vocab, as spaCy's ``StaticVectors`` reads it)."""
    if isinstance(vectors, Vectors) and vectors.shape[0]:
        return OwnVectors(vectors, vectors.attr)
    return OwnVectors()


def _init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    if X is not None and len(X):
        vectors = X[0].vocab.vectors
        model.attrs["active"] = bool(vectors.shape[0] and vectors.shape[1])
        model.attrs["table"] = _keep(vectors)
    if model.attrs["active"]:
        model.layers[0].initialize(X=X, Y=Y)
    return model


def _forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Ragged, Callable]:
    if not model.attrs["active"]:
        lengths = model.ops.asarray1i([len(doc) for doc in docs])
        zeros = model.ops.alloc2f(int(lengths.sum()), model.get_dim("nO"))
        return Ragged(zeros, lengths), lambda d_ragged: []
    own = model.attrs["table"]
    if own.vectors is None:
        return _vocab_vectors(model, docs, is_train)
    return _table_vectors(model.layers[0], own, docs, is_train)


def _vocab_vectors(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Ragged, Callable]:
    """spaCy's ``StaticVectors`` on the docs' vocab: for a layer without a table of its own."""
    if docs and not docs[0].vocab.vectors.shape[0]:
        # spaCy's StaticVectors would fail deep inside with "IndexError: index -1".
        raise ValueError(
            "dtn_ner: these Docs' vocab has no word vectors, and the model, trained with static "
            "vectors, holds no table of its own (saved before models kept theirs): load its "
            "pipeline with spacy.load, which gives it the pipeline's table, and save it again."
        )
    return model.layers[0](docs, is_train)


def _table_vectors(
    static: Model, own: OwnVectors, docs: List[Doc], is_train: bool
) -> Tuple[Ragged, Callable]:
    """spaCy's ``StaticVectors`` forward pass (``static``'s projection, dropout and
    gradient) with the rows of the layer's own table, not of the docs' vocab."""
    ops = static.ops
    lengths = ops.asarray1i([len(doc) for doc in docs])
    if not int(lengths.sum()):
        return Ragged(ops.alloc2f(0, static.get_dim("nO")), ops.alloc1i(0)), lambda d: []
    W = ops.as_contig(static.get_param("W"))
    width = own.vectors.shape[1]
    if width != W.shape[1]:
        raise ValueError(
            f"dtn_ner: its vectors table has {width} columns but the model was trained on "
            f"{W.shape[1]}-d vectors."
        )
    found, missing = _lookup(own, docs)
    V = ops.as_contig(ops.asarray(found))
    output = ops.gemm(V, W, trans2=True)
    if missing is not None:
        output[ops.asarray(missing)] = 0  # a word without a row: zeros, as in StaticVectors
    rate = static.attrs.get("dropout_rate")
    mask = ops.get_dropout_mask((W.shape[0],), rate) if is_train and rate is not None else None
    if mask is not None:
        output *= mask

    def backprop(d_output: Ragged) -> List[Doc]:
        if mask is not None:
            d_output.data *= mask
        static.inc_grad("W", ops.gemm(d_output.data, V, trans1=True))
        return []

    return Ragged(output, lengths), backprop


def _lookup(own: OwnVectors, docs: List[Doc]) -> Tuple[Floats2d, Optional[numpy.ndarray]]:
    """The table's rows for the docs' tokens, keyed by the table's attribute (``ORTH``
    unless it was built with another), and which tokens it lacks (None for floret vectors,
    which have a row for any word)."""
    table = own.vectors
    keys = numpy.concatenate([doc.to_array(own.attr) for doc in docs])
    if table.mode == Mode.floret:
        # floret hashes the strings' n-grams; the docs' vocab knows the strings, the table not.
        strings = docs[0].vocab.strings
        return table.get_batch([strings[int(key)] for key in keys]), None
    rows = table.find(keys=keys)
    return table.data[rows], rows < 0
