"""spacy_dtn.FrozenFeatures.v1: while training, the wrapped tok2vec runs once per distinct doc;
always in prediction mode and with no gradient. The cache is on only after the training
callback, stays within its token budget and is never saved."""
import numpy
import spacy
from spacy.tokens import Doc
from thinc.api import Model

from spacy_dtn.layers.frozen_features import (
    build_frozen_features,
    doc_key,
    frozen_feature_caches,
    length_groups,
    make_remember_frozen_features,
)


def counting_tok2vec(calls: list) -> Model:
    """Row i of a doc's vectors is [token i's length, is_train]; each call's docs are logged."""

    def forward(model, docs, is_train):
        calls.append(([doc.text for doc in docs], is_train))
        out = [numpy.array([[len(t), float(is_train)] for t in doc], dtype="f").reshape(-1, 2)
               for doc in docs]

        def backprop(d_out):
            raise AssertionError("the frozen layer backpropagated into its tok2vec")

        return out, backprop

    return Model("counting", forward, dims={"nO": 2})


def docs_of(nlp, *texts):
    return [nlp.make_doc(text) for text in texts]


def remembering(tok2vec, **kwargs) -> Model:
    """A FrozenFeatures layer with its cache on, as the training callback leaves it."""
    model = build_frozen_features(tok2vec, **kwargs)
    model.attrs["cache"].active = True
    return model


def test_each_distinct_doc_is_computed_once_in_prediction_mode():
    nlp = spacy.blank("en")
    calls = []
    model = remembering(counting_tok2vec(calls))
    model.initialize()
    first, backprop = model(docs_of(nlp, "aspirin helps", "no fever"), is_train=True)
    assert calls == [(["aspirin helps", "no fever"], False)]
    numpy.testing.assert_array_equal(first[0], [[7, 0], [5, 0]])
    assert backprop([numpy.ones((2, 2), dtype="f"), numpy.ones((2, 2), dtype="f")]) == []
    again, _ = model(docs_of(nlp, "no fever", "a rash", "aspirin helps"), is_train=False)
    assert calls[1:] == [(["a rash"], False)]
    numpy.testing.assert_array_equal(again[0], [[2, 0], [5, 0]])
    numpy.testing.assert_array_equal(again[2], first[0])


def test_the_same_text_tokenised_otherwise_is_another_doc():
    nlp = spacy.blank("en")
    calls = []
    model = remembering(counting_tok2vec(calls))
    one = Doc(nlp.vocab, words=["IL-2", "rises"], spaces=[True, False])
    two = Doc(nlp.vocab, words=["IL", "-", "2", "rises"], spaces=[False, False, True, False])
    assert one.text == two.text and doc_key(one) != doc_key(two)
    out, _ = model([one, two], is_train=False)
    assert [len(v) for v in out] == [2, 4]
    model([two, one], is_train=False)
    assert len(calls) == 1


def test_the_cache_keeps_at_most_cache_tokens_and_is_not_saved():
    nlp = spacy.blank("en")
    calls = []
    model = remembering(counting_tok2vec(calls), cache_tokens=3)
    model([*docs_of(nlp, "a b", "c d")], is_train=False)  # 2 tokens kept, then 2 more: no room
    cache = model.attrs["cache"]
    assert cache.n_tokens == 2 and len(cache.vectors) == 1
    model(docs_of(nlp, "a b", "c d"), is_train=False)
    assert calls[-1] == (["c d"], False)

    restored = build_frozen_features(counting_tok2vec(calls), cache_tokens=3)
    restored.from_bytes(model.to_bytes())
    cache = restored.attrs["cache"]
    assert (cache.vectors, cache.max_tokens, cache.active) == ({}, 3, False)
    out, _ = restored(docs_of(nlp, "a b"), is_train=False)
    numpy.testing.assert_array_equal(out[0], [[1, 0], [1, 0]])


def test_cache_tokens_zero_keeps_nothing():
    nlp = spacy.blank("en")
    calls = []
    model = remembering(counting_tok2vec(calls), cache_tokens=0)
    model(docs_of(nlp, "a b"), is_train=False)
    model(docs_of(nlp, "a b"), is_train=False)
    assert len(calls) == 2 and model.attrs["cache"].vectors == {}


def test_only_the_training_callback_switches_the_cache_on():
    nlp = spacy.blank("en")
    calls = []
    nlp.add_pipe("dtn_ner", config={"model": {
        "tok2vec": {"@architectures": "spacy_dtn.FrozenFeatures.v1",
                    "tok2vec": {"@architectures": "spacy_dtn.WordEmbed.v1", "width": 8,
                                "include_static_vectors": False}},
        "word_width": 8}})
    (cache,) = frozen_feature_caches(nlp)
    model = build_frozen_features(counting_tok2vec(calls))
    model(docs_of(nlp, "a b"), is_train=False)
    model(docs_of(nlp, "a b"), is_train=False)
    # Not switched on (as in a pipeline loaded to annotate): every call computes afresh.
    assert len(calls) == 2 and model.attrs["cache"].vectors == {} and not cache.active
    remember = make_remember_frozen_features()
    remember(nlp, {"step": 1, "epoch": 0})
    assert not cache.active  # only before the first update
    remember(nlp, {"step": 0, "epoch": 0})
    assert cache.active


def test_length_groups_keep_the_padded_size_within_the_budget():
    # shortest first: 1, 2 (2 × 2 = 4), then 3 (3 × 3 = 9 > 6) and 5 (2 × 5 > 6) alone
    assert length_groups([3, 1, 5, 2], 6) == [[1, 3], [0], [2]]
    assert length_groups([10], 4) == [[0]]  # longer than the budget: a group of its own
    assert length_groups([], 4) == []


def test_docs_reach_the_tok2vec_in_length_groups_and_come_back_in_order():
    nlp = spacy.blank("en")
    calls = []
    model = build_frozen_features(counting_tok2vec(calls), batch_tokens=4)
    texts = ["a b c", "d", "e f", "g h i j"]
    out, _ = model(docs_of(nlp, *texts), is_train=False)
    assert [texts for texts, _ in calls] == [["d", "e f"], ["a b c"], ["g h i j"]]
    assert [len(vectors) for vectors in out] == [3, 1, 2, 4]
    numpy.testing.assert_array_equal(out[3][:, 0], [1, 1, 1, 1])
