"""The dtn_ner component: registration, training, serialisation, coexistence, odd input."""
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam

from spacy_dtn.iobes import is_valid_iobes

from dtn_helpers import read_examples, small_english_pipeline_name


def ents(doc):
    return [(e.start, e.end, e.label_) for e in doc.ents]


def test_factory_is_registered_by_entry_point_in_a_fresh_process():
    code = (
        "import sys, spacy; nlp = spacy.blank('en'); pipe = nlp.add_pipe('dtn_ner');"
        "print(type(pipe).__name__, nlp.get_pipe_meta('dtn_ner').default_score_weights['ents_f'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["DTNEntityRecognizer", "1.0"]


def test_training_drives_loss_down_and_fits_the_target_sentences(trained):
    nlp, target, source, history = trained
    ner = nlp.get_pipe("dtn_ner")
    assert ner.label_data == {"target": ["Chemical", "Disease"], "source": ["Disease"]}
    target_losses = [h["dtn_ner:target"] for h in history if "dtn_ner:target" in h]
    source_losses = [h["dtn_ner:source"] for h in history if "dtn_ner:source" in h]
    assert len(source_losses) == 20 and len(target_losses) == 40
    assert numpy.mean(target_losses[-5:]) < 0.5 * numpy.mean(target_losses[:5])
    assert numpy.mean(source_losses[-5:]) < numpy.mean(source_losses[:5])
    scores = nlp.evaluate(target)
    assert scores["ents_f"] > 0.3, scores  # chance is ~0 for exact entity spans
    assert set(scores["ents_per_type"]) <= {"Chemical", "Disease"}


def test_predictions_are_valid_iobes_and_scored_by_spacy(trained):
    nlp, target, _, _ = trained
    ner = nlp.get_pipe("dtn_ner")
    docs = list(nlp.pipe(eg.reference.text for eg in target))
    output = ner.predict(docs)
    tags = ner.model.ops.to_numpy(output.tags)
    tagset = ner.network.tagsets["target"]
    start = 0
    for length in output.lengths:
        assert is_valid_iobes([tagset.tags[i] for i in tags[start:start + length]])
        start += length
    assert sum(len(doc.ents) for doc in docs) > 0


def _own_params(ner, task):
    """Parameters only ``task`` uses and no penalty couples to another task.

    Soft-shared modules are left out: the penalty λ‖θ_t − θ_s‖² of every batch pulls them
    towards each other by design (paper, L_share).
    """
    network = ner.network
    own = {}
    for name, param in network.named_parameters():
        component = name.split(".")[0]
        coupled = ".soft." in name or (".own." in name and network.schemes[component] == "S")
        mine = f".{task}." in name or (task == "target" and (".ind." in name or ".gate" in name))
        if mine and not coupled:
            own[name] = param.detach().clone()
    return own


@pytest.mark.parametrize("sharing", ["III", "dtn", "SIS"])
def test_a_task_update_leaves_the_other_tasks_own_parameters_unchanged(sharing):
    nlp = spacy.blank("en")
    # label_map off: tied labels make the target's Disease output rows the source's too.
    nlp.add_pipe("dtn_ner", config={"model": {"sharing": sharing, "label_map": None}})
    target = read_examples(nlp, "bc5cdr", "train", 8)
    source = read_examples(nlp, "ncbi-disease", "train", 8, task="source")
    nlp.initialize(lambda: target + source)
    ner = nlp.get_pipe("dtn_ner")
    optimizer = Adam(0.01)
    nlp.update(target, sgd=optimizer)  # momentum for every target parameter
    nlp.update(source, sgd=optimizer)  # and for every source parameter
    before_t, before_s = _own_params(ner, "target"), _own_params(ner, "source")
    assert before_t and before_s
    nlp.update(source, sgd=optimizer)
    after_t, after_s = _own_params(ner, "target"), _own_params(ner, "source")
    assert all(torch.equal(before_t[n], after_t[n]) for n in before_t)
    assert any(not torch.equal(before_s[n], after_s[n]) for n in before_s)
    nlp.update(target, sgd=optimizer)
    final_s = _own_params(ner, "source")
    assert all(torch.equal(after_s[n], final_s[n]) for n in after_s)


def test_baseline_skips_source_batches_and_counts_them():
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner", config={"model": {"sharing": "baseline"}})
    target = read_examples(nlp, "bc5cdr", "train", 4)
    source = read_examples(nlp, "ncbi-disease", "train", 4, task="source")
    nlp.initialize(lambda: target + source)
    ner = nlp.get_pipe("dtn_ner")
    assert not any("source" in n for n, _ in ner.network.named_parameters())
    losses = nlp.update(source, sgd=Adam(0.01))
    assert losses["dtn_ner"] == 0.0 and ner.skipped_batches == {"source": 1}


def test_a_batch_mixing_tasks_is_refused(trained):
    nlp, target, source, _ = trained
    with pytest.raises(ValueError, match="one task"):
        nlp.update(target[:2] + source[:2])


@pytest.fixture(scope="module")
def probe_texts(trained):
    _, target, _, _ = trained
    return [eg.reference.text for eg in target[:16]]


def test_disk_and_bytes_round_trips_give_identical_entities(trained, probe_texts, tmp_path):
    nlp, _, _, _ = trained
    expected = [ents(doc) for doc in nlp.pipe(probe_texts)]
    assert any(expected)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [ents(doc) for doc in loaded.pipe(probe_texts)] == expected
    fresh = spacy.blank("en")
    fresh.add_pipe("dtn_ner")
    fresh.from_bytes(nlp.to_bytes())
    assert [ents(doc) for doc in fresh.pipe(probe_texts)] == expected
    # The saved network fixes the shape; training settings stay the config's on load.
    overridden = spacy.load(
        tmp_path / "pipeline",
        config={"components": {"dtn_ner": {"model": {"dropout": 0.25, "share_lambda": 0.5}}}},
    )
    network = overridden.get_pipe("dtn_ner").network
    assert network.dropout.p == 0.25 and network.config.share_lambda == 0.5
    assert loaded.get_pipe("dtn_ner").network.dropout.p == 0.4
    assert [ents(doc) for doc in overridden.pipe(probe_texts)] == expected


def test_dropping_the_source_task_keeps_entities_and_shrinks_the_pipeline(
    trained, probe_texts, tmp_path
):
    nlp, _, _, _ = trained
    expected = [ents(doc) for doc in nlp.pipe(probe_texts)]
    nlp.to_disk(tmp_path / "full")
    copy = spacy.load(tmp_path / "full")
    ner = copy.get_pipe("dtn_ner")
    n_full = sum(p.numel() for p in ner.network.parameters())
    ner.drop_source_task()
    n_dropped = sum(p.numel() for p in ner.network.parameters())
    assert n_dropped < n_full
    assert ner.label_data == {"target": ["Chemical", "Disease"]}
    assert [ents(doc) for doc in copy.pipe(probe_texts)] == expected
    copy.to_disk(tmp_path / "dropped")
    size = lambda p: sum(f.stat().st_size for f in (p / "dtn_ner").iterdir())
    assert size(tmp_path / "dropped") < size(tmp_path / "full")
    reloaded = spacy.load(tmp_path / "dropped")
    assert [ents(doc) for doc in reloaded.pipe(probe_texts)] == expected
    again = spacy.blank("en")
    again.add_pipe("dtn_ner").from_bytes(reloaded.get_pipe("dtn_ner").to_bytes())
    assert [ents(doc) for doc in again.pipe(probe_texts)] == expected
    # The config switch drops the source task on load.
    switched = spacy.load(
        tmp_path / "full", config={"components": {"dtn_ner": {"drop_source": True}}}
    )
    sw = switched.get_pipe("dtn_ner")
    assert sw.label_data == {"target": ["Chemical", "Disease"]}
    assert sum(p.numel() for p in sw.network.parameters()) == n_dropped
    assert [ents(doc) for doc in switched.pipe(probe_texts)] == expected


def test_spans_key_leaves_an_existing_ner_untouched(trained, probe_texts, tmp_path):
    nlp, target, _, _ = trained
    expected = [ents(doc) for doc in nlp.pipe(probe_texts)]
    base = spacy.load(small_english_pipeline_name())  # a real en_core_web_sm 3.8
    before = [ents(doc) for doc in base.pipe(probe_texts)]
    assert any(before)
    ner = base.add_pipe("dtn_ner", config={"spans_key": "dtn"})
    ner.from_bytes(nlp.get_pipe("dtn_ner").to_bytes(exclude=["vocab"]), exclude=["vocab"])
    docs = list(base.pipe(probe_texts))
    assert [ents(doc) for doc in docs] == before
    assert [[(s.start, s.end, s.label_) for s in doc.spans["dtn"]] for doc in docs] == expected
    # nlp.evaluate: the ner's own ents_* unchanged, the DTN's under spans_dtn_*
    examples = [  # the same gold entities, in the combined pipeline's vocab
        Example.from_dict(base.make_doc(eg.reference.text), {"entities": [
            (e.start_char, e.end_char, e.label_) for e in eg.reference.ents]})
        for eg in target
    ]
    with base.select_pipes(disable=["dtn_ner"]):
        ner_alone = base.evaluate(examples)
    both = base.evaluate(examples)
    for key in ("ents_p", "ents_r", "ents_f"):
        assert both[key] == ner_alone[key]
    dtn_alone = nlp.evaluate(target)
    assert both["spans_dtn_f"] == pytest.approx(dtn_alone["ents_f"])
    assert both["spans_dtn_p"] == pytest.approx(dtn_alone["ents_p"])
    assert set(both["spans_dtn_per_type"]) <= {"Chemical", "Disease"}
    base.to_disk(tmp_path / "combined")
    reloaded = spacy.load(tmp_path / "combined")
    docs = list(reloaded.pipe(probe_texts))
    assert [ents(doc) for doc in docs] == before
    assert [[(s.start, s.end, s.label_) for s in doc.spans["dtn"]] for doc in docs] == expected


def test_gate_values_on_request_only(trained, probe_texts):
    nlp, _, _, _ = trained
    doc = nlp(probe_texts[0])
    assert doc._.dtn_gates is None
    ner = nlp.get_pipe("dtn_ner")
    ner.store_gates = True
    try:
        doc = nlp(probe_texts[0])
    finally:
        ner.store_gates = False
    gates = doc._.dtn_gates
    assert set(gates) == {f"{c}_{g}" for c in ("char", "word", "decoder") for g in ("g1", "g2")}
    for values in gates.values():
        assert len(values) == len(doc) and all(0.0 < v < 1.0 for v in values)


ODD_TEXTS = {
    "one token": ["aspirin"],
    "whitespace": ["Lithium", " ", "\t", "toxicity", "\n\n"],
    "emoji": ["😷", "fever", "🤒", "after", "💊", "ibuprofen"],
    "control": ["\x00", "\x07abc", "dose", "\x1b[31m"],
    "zero-width": ["\u200b", "a\u200db", "\ufeffheparin", "\u2060"],
}


def test_odd_input_is_handled(trained):
    nlp, target, _, _ = trained
    empty = nlp(Doc(nlp.vocab, words=[]))
    assert len(empty) == 0 and empty.ents == ()
    for name, words in ODD_TEXTS.items():
        doc = nlp(Doc(nlp.vocab, words=words))
        assert len(doc) == len(words), name
        assert all(0 <= e.start < e.end <= len(doc) for e in doc.ents)
    train_words = [t.text for eg in target for t in eg.reference]
    long_words = (train_words * (5000 // len(train_words) + 1))[:5000]
    long_doc = nlp(Doc(nlp.vocab, words=long_words))
    assert len(long_doc) == 5000 and len(long_doc.ents) > 0
    mixed = [Doc(nlp.vocab, words=[]), Doc(nlp.vocab, words=["lithium"]), Doc(nlp.vocab, words=[])]
    assert [len(d) for d in nlp.pipe(mixed)] == [0, 1, 0]


def test_pipe_with_two_processes_matches_one(trained, probe_texts):
    nlp, _, _, _ = trained
    expected = [ents(doc) for doc in nlp.pipe(probe_texts)]
    got = [ents(doc) for doc in nlp.pipe(probe_texts, n_process=2, batch_size=4)]
    assert got == expected


def test_a_v1_pipeline_keeps_the_papers_network_after_saving_and_loading(tmp_path):
    """Pipelines saved by 0.1.0 name DTNTagger.v1: they load without v2's settings."""
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner", config={"model": {
        "@architectures": "spacy_dtn.DTNTagger.v1",
        "tok2vec": {"@architectures": "spacy_dtn.WordEmbed.v1", "width": 32},
    }})
    target = read_examples(nlp, "bc5cdr", "train", 4)
    source = read_examples(nlp, "ncbi-disease", "train", 4, task="source")
    nlp.initialize(lambda: target + source)
    nlp.to_disk(tmp_path / "v1")
    loaded = spacy.load(tmp_path / "v1")
    for pipeline in (nlp, loaded):
        config = pipeline.get_pipe("dtn_ner").network.config
        assert config.normalize is False and config.label_map is None
    assert "normalize" not in loaded.config["components"]["dtn_ner"]["model"]
    default = spacy.blank("en")
    default.add_pipe("dtn_ner")
    default.initialize(lambda: target)
    assert default.get_pipe("dtn_ner").network.config.normalize is True
