"""``spacy_dtn.FrozenFeatures.v1``: a tok2vec kept fixed, run once per distinct doc.

Why: a transformer fine-tuned on a few hundred target sentences costs seconds per update on
a CPU, and on data this small its features learn little that the DTN's own BiLSTMs cannot.
Kept fixed, a sentence's vectors never change, so the corpus seen every epoch and the dev
set scored at every evaluation need one transformer pass each for the whole training run;
after that an update costs what the BiLSTM DTN's does. The vectors are remembered by the
doc's text and token boundaries, up to ``cache_tokens`` tokens (then new docs are computed
and not kept), so annotating a large archive holds a bounded amount of memory.

The wrapped layer runs in prediction mode (no dropout) and receives no gradient: its
weights stay as loaded. The cache is not saved with the model.
"""
from typing import Callable, Dict, List, Tuple

from spacy.tokens import Doc
from thinc.api import Model, deserialize_attr, serialize_attr
from thinc.types import Floats2d

DocKey = Tuple[str, Tuple[int, ...]]


class FeatureCache:
    """Each doc's vectors by its key, up to ``max_tokens`` tokens in all."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self.n_tokens = 0
        self.vectors: Dict[DocKey, Floats2d] = {}

    def get(self, key: DocKey):
        return self.vectors.get(key)

    def add(self, key: DocKey, vectors: Floats2d) -> None:
        if self.n_tokens + len(vectors) <= self.max_tokens:
            self.vectors[key] = vectors
            self.n_tokens += len(vectors)


@serialize_attr.register(FeatureCache)
def _serialize_cache(_, value: FeatureCache, name: str, model: Model) -> bytes:
    return b""  # the cache is rebuilt from the data, never saved


@deserialize_attr.register(FeatureCache)
def _deserialize_cache(default: FeatureCache, value: bytes, name: str, model: Model):
    return FeatureCache(default.max_tokens)


def doc_key(doc: Doc) -> DocKey:
    """The text and the token offsets: together they fix every token and its whitespace."""
    return doc.text, tuple(token.idx for token in doc)


def build_frozen_features(
    tok2vec: Model[List[Doc], List[Floats2d]], cache_tokens: int = 1_000_000
) -> Model[List[Doc], List[Floats2d]]:
    """``spacy_dtn.FrozenFeatures.v1``: ``tok2vec`` as fixed features, computed once per doc.

    tok2vec (Model[List[Doc], List[Floats2d]]): The layer to freeze, e.g.
        ``spacy-transformers.Tok2VecTransformer.v3`` (its weights are saved with the
        pipeline, so it loads offline). It runs with ``is_train=False`` and gets no gradient.
    cache_tokens (int): Tokens whose vectors are kept in memory (about ``cache_tokens ×
        width × 4`` bytes; 1,000,000 × 384 is 1.5 GB at most). Enough for the train corpora
        and the dev set makes every epoch after the first cheap; 0 keeps nothing.
        If in doubt, 1000000.
    """
    return Model(
        "frozen_features",
        _forward,
        init=_init,
        layers=[tok2vec],
        attrs={"cache": FeatureCache(cache_tokens)},
        dims={"nO": tok2vec.maybe_get_dim("nO")},
    )


def _init(model: Model, X=None, Y=None) -> Model:
    model.layers[0].initialize(X=X)
    if model.layers[0].has_dim("nO"):
        model.set_dim("nO", model.layers[0].get_dim("nO"))
    return model


def _forward(
    model: Model, docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    cache: FeatureCache = model.attrs["cache"]
    keys = [doc_key(doc) for doc in docs]
    found = [cache.get(key) for key in keys]
    missing = [i for i, vectors in enumerate(found) if vectors is None]
    if missing:
        computed, _ = model.layers[0]([docs[i] for i in missing], False)
        for i, vectors in zip(missing, computed):
            found[i] = vectors
            cache.add(keys[i], vectors)

    def backprop(d_vectors: List[Floats2d]) -> List[Doc]:
        return []  # frozen: nothing reaches the wrapped layer

    return found, backprop
