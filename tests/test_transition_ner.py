"""``dtn_transition_ner``: the DTN's gates on spaCy's token encoder, spaCy's ner per task."""
from collections import Counter
from pathlib import Path

import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from thinc.api import Adam, Linear, fix_random_seed, with_array

from spacy_dtn.layers.gated_encoder import (
    GATE_PARAMS, add_share_grad, share_penalty, source_view, target_view,
)
from spacy_dtn.layers.transition_model import action_names, task_view, tied_actions

from dtn_helpers import read_examples, train_steps

WIDTH = 3


def encoder():
    return with_array(Linear(nO=WIDTH, nI=WIDTH))


def inputs():
    rng = numpy.random.default_rng(0)
    return [rng.normal(size=(n, WIDTH)).astype("f") for n in (4, 2)]


def dtn_view():
    model = target_view(encoder(), encoder(), encoder())
    X = inputs()
    model.initialize(X=X)
    return model, X


def path_outputs(model, X):
    return {name: numpy.concatenate(model.get_ref(name).predict(X))
            for name in ("hard", "soft", "independent")}


def test_zero_gates_mix_the_paths_by_halves():
    """Gate vectors start at zero: g1 = g2 = σ(0) = 1/2, so the target's output is
    h_ind/2 + h_hard/4 + h_soft/4 (eq. 2 and 4 by hand)."""
    model, X = dtn_view()
    h = path_outputs(model, X)
    Y = numpy.concatenate(model.predict(X))
    assert_allclose(Y, 0.5 * h["independent"] + 0.25 * h["hard"] + 0.25 * h["soft"], rtol=1e-5)


def test_gates_follow_equations_one_to_four():
    model, X = dtn_view()
    rng = numpy.random.default_rng(1)
    for name, vectors in GATE_PARAMS.items():
        for vector in vectors:
            model.set_param(vector, rng.normal(size=WIDTH).astype("f"))
        model.set_param(f"b_{name}", numpy.asarray([0.3], dtype="f"))
    h, a = path_outputs(model, X), numpy.concatenate(X)
    p = {v: model.get_param(v) for vs in GATE_PARAMS.values() for v in vs}
    sigmoid = lambda z: 1 / (1 + numpy.exp(-z))  # noqa: E731
    g1 = sigmoid(h["soft"] @ p["Q"] + h["hard"] @ p["R"] + a @ p["S"] + 0.3)
    shared = (1 - g1)[:, None] * h["hard"] + g1[:, None] * h["soft"]
    g2 = sigmoid(h["independent"] @ p["T"] + shared @ p["U"] + a @ p["V"] + 0.3)
    expected = (1 - g2)[:, None] * h["independent"] + g2[:, None] * shared
    assert_allclose(numpy.concatenate(model.predict(X)), expected, rtol=1e-4, atol=1e-6)


def _loss(model, X, R):
    return float(sum((y * r).sum() for y, r in zip(model.predict(X), R)))


@pytest.mark.parametrize("with_independent", [True, False])
def test_backprop_matches_finite_differences(with_independent):
    """dL/dX and dL/d(gate parameters) of L = Σ Y·R against central differences."""
    fix_random_seed(0)
    model = target_view(encoder(), encoder(), encoder() if with_independent else None)
    X = inputs()
    model.initialize(X=X)
    rng = numpy.random.default_rng(2)
    for vectors in GATE_PARAMS.values():
        for vector in vectors:
            if model.has_param(vector):
                model.set_param(vector, rng.normal(size=WIDTH).astype("f"))
    R = [rng.normal(size=x.shape).astype("f") for x in X]
    Y, backprop = model.begin_update(X)
    dX = backprop(R)
    eps = 1e-2
    for i, j, k in [(0, 0, 0), (0, 3, 2), (1, 1, 1)]:
        up = [x.copy() for x in X]
        down = [x.copy() for x in X]
        up[i][j, k] += eps
        down[i][j, k] -= eps
        numeric = (_loss(model, up, R) - _loss(model, down, R)) / (2 * eps)
        assert dX[i][j, k] == pytest.approx(numeric, rel=2e-2, abs=2e-3)
    for vector in ("Q", "R", "S", "b_g1") + (("T", "U", "V", "b_g2") if with_independent else ()):
        analytic = model.get_grad(vector)
        value = model.get_param(vector)
        for index in range(len(value)):
            shifted = value.copy()
            shifted[index] += eps
            model.set_param(vector, shifted)
            plus = _loss(model, X, R)
            shifted[index] -= 2 * eps
            model.set_param(vector, shifted)
            minus = _loss(model, X, R)
            model.set_param(vector, value)
            assert analytic[index] == pytest.approx((plus - minus) / (2 * eps), rel=2e-2,
                                                    abs=2e-3)


def test_baseline_view_is_the_encoder_itself():
    inner = encoder()
    model = target_view(None, None, inner)
    X = inputs()
    model.initialize(X=X)
    for y, expected in zip(model.predict(X), inner.predict(X)):
        assert_allclose(y, expected)


def test_source_view_sums_hard_and_soft():
    hard, soft = encoder(), encoder()
    model = source_view(hard, soft)
    X = inputs()
    model.initialize(X=X)
    for y, yh, ys in zip(model.predict(X), hard.predict(X), soft.predict(X)):
        assert_allclose(y, yh + ys, rtol=1e-6)


def test_share_penalty_and_its_gradient_by_hand():
    soft, other = Linear(nO=2, nI=2), Linear(nO=2, nI=2)
    for layer, w, b in ((soft, [[1, 2], [3, 4]], [1, 1]), (other, [[1, 0], [3, 2]], [0, 1])):
        layer.initialize()
        layer.set_param("W", numpy.asarray(w, dtype="f"))
        layer.set_param("b", numpy.asarray(b, dtype="f"))
    # differences: W [[0, 2], [0, 2]], b [1, 0]: squared sum 9
    assert share_penalty(soft, other, 0.5) == pytest.approx(4.5)
    add_share_grad(soft, other, 0.5)
    assert_allclose(soft.get_grad("W"), [[0, 2], [0, 2]])
    assert_allclose(soft.get_grad("b"), [1, 0])


def _pipeline(sharing):
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_transition_ner", config={
        "model": {"sharing": sharing, "embed": {"include_static_vectors": False}},
    })
    return nlp


def _ents(docs):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]


@pytest.fixture(scope="module")
def trained_dtn():
    fix_random_seed(0)
    nlp = _pipeline("dtn")
    target = read_examples(nlp, "bc5cdr", "train", 48)
    source = read_examples(nlp, "ncbi-disease", "train", 48, task="source")
    nlp.initialize(lambda: target + source)
    history = train_steps(nlp, target, source, steps=90)
    return nlp, target, source, history


def test_each_task_learns_its_own_labels(trained_dtn):
    nlp, target, source, history = trained_dtn
    pipe = nlp.get_pipe("dtn_transition_ner")
    assert pipe.tasks == ["target", "source"]
    assert pipe.labels == ("Chemical", "Disease")
    assert pipe.recognizers["source"].labels == ("Disease",)
    assert any("dtn_transition_ner:source" in losses for losses in history)
    # the target is fitted: 60 of the 90 steps are on the 48 target sentences
    assert nlp.evaluate(target)["ents_f"] > 0.5


def test_shared_layers_are_one_node_in_both_tasks(trained_dtn):
    nlp = trained_dtn[0]
    pipe = nlp.get_pipe("dtn_transition_ner")
    source_ids = {node.id for node in pipe.recognizers["source"].model.walk()}
    view = task_view(pipe.recognizers["target"].model)
    assert view.get_ref("hard").id in source_ids
    embed = pipe.recognizers["target"].model.get_ref("tok2vec").layers[0].get_ref("embed")
    assert embed.id in source_ids
    for own in (view, view.get_ref("soft"), view.get_ref("independent")):
        assert own.id not in source_ids
    assert pipe.share_penalty() > 0


def test_round_trip_to_disk_and_bytes(trained_dtn, tmp_path):
    nlp, target = trained_dtn[0], trained_dtn[1]
    texts = [eg.reference.text for eg in target[:20]]
    expected = _ents(nlp.pipe(texts))
    assert any(expected)
    nlp.to_disk(tmp_path / "model")
    assert _ents(spacy.load(tmp_path / "model").pipe(texts)) == expected
    copy = _pipeline("dtn").from_bytes(nlp.to_bytes())
    assert _ents(copy.pipe(texts)) == expected


def test_dtn_without_source_examples_says_what_is_missing():
    nlp = _pipeline("dtn")
    target = read_examples(nlp, "bc5cdr", "train", 8)
    with pytest.raises(ValueError, match=r"needs training examples of the tasks \['source'\]"):
        nlp.initialize(lambda: target)


def test_several_source_tasks_say_how_to_read_them_as_one():
    nlp = _pipeline("dtn")
    target = read_examples(nlp, "bc5cdr", "train", 4)
    sources = (read_examples(nlp, "ncbi-disease", "train", 4, task="ncbi-disease")
               + read_examples(nlp, "bc2gm", "train", 4, task="bc2gm"))
    with pytest.raises(ValueError, match=r"takes one source task, 'source'; the training corpus "
                       r"has the source tasks \['bc2gm', 'ncbi-disease'\]: read the source "
                       r"files as one task \(corpora.train.source_name = \"source\"\)"):
        nlp.initialize(lambda: target + sources)


def test_baseline_trains_on_the_target_and_skips_source_batches():
    fix_random_seed(0)
    nlp = _pipeline("baseline")
    target = read_examples(nlp, "bc5cdr", "train", 8)
    source = read_examples(nlp, "ncbi-disease", "train", 8, task="source")
    nlp.initialize(lambda: target + source)
    with pytest.warns(UserWarning, match="batches of task 'source' are skipped"):
        losses = nlp.update(source)
    assert losses == {"dtn_transition_ner": 0.0}
    nlp.update(source)
    assert nlp.get_pipe("dtn_transition_ner").skipped_batches == {"source": 2}
    assert nlp.get_pipe("dtn_transition_ner").tasks == ["target"]


def test_unknown_sharing_is_a_clear_error():
    with pytest.raises(ValueError, match="not one of dtn, dtn_hs, baseline"):
        _pipeline("HHI")


def test_tied_actions_by_name_and_by_table():
    target = ["U-", "O", "B-Disease", "I-Disease", "L-Disease", "U-Disease", "B-Chemical"]
    source = ["U-", "O", "B-Disease", "I-Disease", "L-Disease", "U-Disease"]
    assert tied_actions(source, target, "name") == ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5])
    gene = ["O", "B-GENE", "U-GENE"]
    assert tied_actions(gene, target, "name") == ([], [])  # no label in common: nothing
    assert tied_actions(gene, target, {"GENE": "Chemical"}) == ([0, 1], [1, 6])
    assert tied_actions(source, target, None) == ([], [])


def test_label_map_keeps_tied_output_rows_one_row_through_training():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_transition_ner", config={"model": {
        "sharing": "dtn", "label_map": "name", "embed": {"include_static_vectors": False}}})
    target = read_examples(nlp, "bc5cdr", "train", 16)
    source = read_examples(nlp, "ncbi-disease", "train", 16, task="source")
    nlp.initialize(lambda: target + source)
    pipe = nlp.get_pipe("dtn_transition_ner")
    rows, target_rows = tied_actions(action_names(pipe.recognizers["source"]),
                                     action_names(pipe.target), "name")
    assert len(rows) == 6  # O, U- and B/I/L/U-Disease
    upper_t = pipe.target.model.get_ref("upper")
    upper_s = pipe.recognizers["source"].model.get_ref("upper")
    before = upper_t.get_param("W").copy()
    optimizer = Adam(0.01)
    nlp.update(source, sgd=optimizer)  # a source batch moves the target's Disease rows
    W_t, W_s = upper_t.get_param("W"), upper_s.get_param("W")
    assert_allclose(W_s[rows], W_t[target_rows])
    assert not numpy.allclose(before[target_rows], W_t[target_rows])
    chemical = [i for i, name in enumerate(action_names(pipe.target)) if "Chemical" in name]
    assert_allclose(before[chemical], W_t[chemical])  # untied target rows: no source signal
    nlp.update(target, sgd=optimizer)
    assert_allclose(upper_s.get_param("b")[rows], upper_t.get_param("b")[target_rows])


def _stock_ner_pipeline(examples, steps: int):
    """spaCy's efficiency ``tok2vec`` + ``ner`` (a listener), as configs/ner_pooled.cfg
    builds it without static vectors, trained for a few steps."""
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 96,
                  "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
                  "rows": [5000, 1000, 2500, 2500], "include_static_vectors": False},
        "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 96, "depth": 4,
                   "window_size": 1, "maxout_pieces": 3}}})
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2, "use_upper": True,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 96}}})
    optimizer = nlp.initialize(lambda: examples)
    for step in range(steps):
        nlp.update(examples[(step * 8) % len(examples):][:8], sgd=optimizer)
    return nlp


def _stock_ner(tmp_path, corpus, steps=30, more_common=None):
    """A stock ner trained on 32 sentences of ``corpus``; with ``more_common``, sentences
    where that label outnumbers each other (spaCy orders a label's actions by frequency)."""
    fix_random_seed(0)
    examples = read_examples(spacy.blank("en"), corpus, "train", 400)
    if more_common is not None:
        examples = [eg for eg in examples if _more_common(eg, more_common)]
    _stock_ner_pipeline(examples[:32], steps).to_disk(tmp_path / corpus)
    return tmp_path / corpus


def _more_common(example, label):
    counts = Counter(ent.label_ for ent in example.reference.ents)
    return counts[label] > max([n for other, n in counts.items() if other != label], default=0)


def test_started_from_a_trained_ner_predicts_what_it_predicts(tmp_path):
    """Every encoder copy starts as the trained encoder, so the gated mixture is the trained
    tok2vec's output whatever the gates, and the target predicts exactly as the stock ner."""
    nlp = _pipeline("dtn")
    target = read_examples(nlp, "bc5cdr", "train", 16)
    source = read_examples(nlp, "ncbi-disease", "train", 16, task="source")
    nlp.initialize(lambda: target + source)
    # the stock ner's actions in another order than the target's: its output rows are permuted
    first = action_names(nlp.get_pipe("dtn_transition_ner").target)[0][2:]
    second = "Chemical" if first == "Disease" else "Disease"
    stock_path = _stock_ner(tmp_path, "bc5cdr", more_common=second)
    stock = spacy.load(stock_path)
    texts = [eg.reference.text for eg in read_examples(nlp, "bc5cdr", "devel", 40)]
    assert _ents(nlp.pipe(texts)) != _ents(stock.pipe(texts))  # fresh weights differ
    nlp.get_pipe("dtn_transition_ner").initialize(
        lambda: target + source, nlp=nlp, pretrained=stock_path)
    expected = _ents(stock.pipe(texts))
    assert sum(map(len, expected)) > 0
    assert _ents(nlp.pipe(texts)) == expected
    stock_actions = action_names(stock.get_pipe("ner"))
    actions = action_names(nlp.get_pipe("dtn_transition_ner").target)
    assert stock_actions != actions and sorted(stock_actions) == sorted(actions)  # reordered


def test_a_trained_ner_of_other_labels_is_a_one_line_error(tmp_path):
    stock_path = _stock_ner(tmp_path, "ncbi-disease", steps=1)
    nlp = _pipeline("dtn")
    target = read_examples(nlp, "bc5cdr", "train", 8)
    source = read_examples(nlp, "ncbi-disease", "train", 8, task="source")
    with pytest.raises(ValueError) as error:
        nlp.get_pipe("dtn_transition_ner").initialize(
            lambda: target + source, nlp=nlp, pretrained=stock_path)
    message = str(error.value)
    assert "\n" not in message
    assert "has the labels ['Disease'], the target ['Chemical', 'Disease']" in message


def test_configs_dtn_tb_takes_the_trained_ner_from_paths_pretrained(tmp_path):
    """The route of ``spacy train configs/dtn_tb.cfg --paths.pretrained ...``:
    ``[initialize.components.dtn_transition_ner] pretrained`` reaches ``initialize``."""
    from spacy.util import load_config, load_model_from_config

    stock_path = _stock_ner(tmp_path, "bc5cdr")
    config = load_config(Path(__file__).parents[1] / "configs" / "dtn_tb.cfg", overrides={
        "paths.pretrained": str(stock_path), "paths.vectors": None,
        "paths.dev": "corpus/bc5cdr/dev.spacy",
        "components.dtn_transition_ner.model.embed.include_static_vectors": False})
    nlp = load_model_from_config(config, auto_fill=True)
    target = read_examples(nlp, "bc5cdr", "train", 16)
    source = read_examples(nlp, "ncbi-disease", "train", 16, task="source")
    nlp.initialize(lambda: target + source)
    texts = [eg.reference.text for eg in read_examples(nlp, "bc5cdr", "devel", 40)]
    expected = _ents(spacy.load(stock_path).pipe(texts))
    assert sum(map(len, expected)) > 0
    assert _ents(nlp.pipe(texts)) == expected
