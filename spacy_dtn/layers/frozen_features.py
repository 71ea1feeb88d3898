"""``spacy_dtn.FrozenFeatures.v1``: a tok2vec kept fixed, run once per distinct doc.

Why: fine-tuning a transformer costs seconds per update on a CPU, and under the DTN it was
far dearer and, within the budget measured, worse on dev (docs/transformers.md). Kept
fixed, a sentence's vectors never change, so the corpus seen every epoch and the dev set
scored at every evaluation need one transformer pass each for the whole training run; after
that an update costs what the BiLSTM DTN's does.

The vectors are remembered only while training: the training config's
``[training.before_update]`` callback ``spacy_dtn.remember_frozen_features.v1`` switches the
cache on. A pipeline loaded to annotate computes every doc afresh and holds nothing, since
each note of an archive is seen once. A doc is known by its text and token boundaries, and
at most ``cache_tokens`` tokens are kept (later docs are computed and not kept). The cache is
never saved with the model.

The wrapped layer runs in prediction mode (no dropout) and receives no gradient: its
weights stay as loaded.
"""
from typing import Any, Callable, Dict, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from thinc.api import Model, deserialize_attr, serialize_attr
from thinc.types import Floats2d

DocKey = Tuple[str, Tuple[int, ...]]


class FeatureCache:
    """Each doc's vectors by its key, up to ``max_tokens`` tokens in all, once ``active``."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self.active = False
        self.n_tokens = 0
        self.vectors: Dict[DocKey, Floats2d] = {}

    def get(self, key: DocKey) -> Optional[Floats2d]:
        return self.vectors.get(key)

    def add(self, key: DocKey, vectors: Floats2d) -> None:
        if self.active and self.n_tokens + len(vectors) <= self.max_tokens:
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
    tok2vec: Model[List[Doc], List[Floats2d]],
    cache_tokens: int = 1_000_000,
    batch_tokens: int = 2048,
) -> Model[List[Doc], List[Floats2d]]:
    """``spacy_dtn.FrozenFeatures.v1``: ``tok2vec`` as fixed features, computed once per doc.

    tok2vec (Model[List[Doc], List[Floats2d]]): The layer to freeze, e.g.
        ``spacy_dtn.TransformerLayers.v1`` (its weights are saved with the pipeline, so it
        loads offline). It runs with ``is_train=False`` and gets no gradient.
    cache_tokens (int): Tokens whose vectors are kept while training (about
        ``cache_tokens × width × 4`` bytes; 1,000,000 × 384 is 1.5 GB at most). Enough for
        the train corpora and the dev set makes every epoch after the first cheap; 0 keeps
        nothing. If in doubt, 1000000.
    batch_tokens (int): At most this many tokens, counted as padded to the longest doc of
        the group, go through ``tok2vec`` at once, shortest docs first. A transformer pads
        every sequence of a call to the longest one, so one call over a whole batch of mixed
        lengths computes mostly padding. If in doubt, 2048.
    """
    return Model(
        "frozen_features",
        _forward,
        init=_init,
        layers=[tok2vec],
        attrs={"cache": FeatureCache(cache_tokens), "batch_tokens": batch_tokens},
        dims={"nO": tok2vec.maybe_get_dim("nO")},
    )


def length_groups(lengths: List[int], max_padded: int) -> List[List[int]]:
    """Indices into ``lengths``, shortest first, in groups whose size × longest length stays
    within ``max_padded`` (a longer item alone makes a group of one)."""
    groups: List[List[int]] = []
    group: List[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if group and (len(group) + 1) * max(lengths[i], 1) > max_padded:
            groups.append(group)
            group = []
        group.append(i)
    return groups + [group] if group else groups


def _init(model: Model, X=None, Y=None) -> Model:
    model.layers[0].initialize(X=X)
    if model.layers[0].has_dim("nO"):
        model.set_dim("nO", model.layers[0].get_dim("nO"))
    return model


def _forward(
    model: Model, docs: List[Doc], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    cache: FeatureCache = model.attrs["cache"]
    # Not training (a loaded pipeline): no keys, no per-token Python work.
    keys = [doc_key(doc) for doc in docs] if cache.active else None
    found = [cache.get(key) for key in keys] if keys else [None] * len(docs)
    missing = [i for i, vectors in enumerate(found) if vectors is None]
    for group in length_groups([len(docs[i]) for i in missing], model.attrs["batch_tokens"]):
        computed, _ = model.layers[0]([docs[missing[j]] for j in group], False)
        for j, vectors in zip(group, computed):
            found[missing[j]] = vectors
            if keys:
                cache.add(keys[missing[j]], vectors)

    def backprop(d_vectors: List[Floats2d]) -> List[Doc]:
        return []  # frozen: nothing reaches the wrapped layer

    return found, backprop


def make_remember_frozen_features() -> Callable[[Language, Dict[str, Any]], None]:
    """``spacy_dtn.remember_frozen_features.v1``: a ``[training.before_update]`` callback.

    It switches on the cache of every ``spacy_dtn.FrozenFeatures.v1`` layer in the pipeline
    before the first update, so each train and dev sentence passes through the fixed
    transformer once in the whole training run (see the module's docstring).
    """

    def remember(nlp: Language, info: Dict[str, Any]) -> None:
        if info["step"] == 0:
            for cache in frozen_feature_caches(nlp):
                cache.active = True

    return remember


def frozen_feature_caches(nlp: Language) -> List[FeatureCache]:
    """The caches of the pipeline's ``FrozenFeatures`` layers."""
    return [node.attrs["cache"] for _, component in nlp.components
            if hasattr(component, "model") and isinstance(component.model, Model)
            for node in component.model.walk() if node.name == "frozen_features"]
