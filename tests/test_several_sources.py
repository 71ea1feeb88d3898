"""Several sources: the label map per source (which rows each source ties, the one-line
errors of a bad map), the partial-annotation loss of a source that leaves target labels
unannotated, a three-source dtn_ner end to end, and the g2 bias that starts the target on
its own path."""
import math

import pytest
import torch
from torch.nn import functional as F

from spacy_dtn.nn import DTNNetwork, NetworkConfig
from spacy_dtn.iobes import TagSet
from spacy_dtn.label_maps import (
    check_label_map, source_label_map, tied_tags, unannotated_labels,
)
from spacy_dtn.nn.network import _partial_cross_entropy

from test_nn import random_batch

LABELS = {
    "target": ["Chemical", "Disease"],
    "ncbi": ["Disease"],
    "craft": ["CHEBI"],
    "pc": ["Gene", "Simple_chemical"],
}
PER_SOURCE = {
    "ncbi": {"Disease": "Disease"},
    "craft": {"CHEBI": "Chemical"},
    "pc": {"Simple_chemical": "Chemical"},
}


def test_a_table_per_source_applies_to_its_source_only():
    assert source_label_map(PER_SOURCE, "craft") == {"CHEBI": "Chemical"}
    assert source_label_map(PER_SOURCE, "elsewhere") is None
    flat = {"CHEBI": "Chemical"}
    assert source_label_map(flat, "ncbi") is flat
    assert source_label_map("name", "ncbi") == "name"
    # target tags: O, B/I/E/S-Chemical (1-4), B/I/E/S-Disease (5-8), start 9
    # pc tags: O, B/I/E/S-Gene (1-4), B/I/E/S-Simple_chemical (5-8), start 9
    ties = tied_tags(TagSet(LABELS["pc"]), TagSet(LABELS["target"]), PER_SOURCE["pc"])
    assert ties == [0, -1, -1, -1, -1, 1, 2, 3, 4, 9]


def test_the_labels_a_tied_source_leaves_unannotated():
    assert unannotated_labels(["Disease"], LABELS["target"], "name") == ["Chemical"]
    assert unannotated_labels(["Gene", "Simple_chemical"], LABELS["target"],
                              {"Simple_chemical": "Chemical"}) == ["Disease"]
    assert unannotated_labels(["Gene"], LABELS["target"], "name") == []  # ties nothing
    assert unannotated_labels(["Disease"], ["Disease"], "name") == []


@pytest.mark.parametrize("label_map,message", [
    ({"CHEBl": "Chemical"}, "'CHEBl' is not a label of any source"),
    ({"CHEBI": "Chemicals"}, "the target's labels are Chemical, Disease"),
    ({"craft": {"Disease": "Disease"}}, "'Disease' is not a label of source 'craft'"),
    ({"bc2gm": {"GENE": "Chemical"}}, "names the source task 'bc2gm'"),
    ({"craft": {"CHEBI": "Chemical"}, "CHEBI": "Chemical"}, "mixes a table per source"),
    (["CHEBI"], "label_map must be null"),
])
def test_a_bad_label_map_is_a_one_line_error(label_map, message):
    with pytest.raises(ValueError, match=message) as err:
        check_label_map(label_map, LABELS, "target")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=message):
        DTNNetwork(NetworkConfig(word_width=6, label_map=label_map), "target", LABELS)


def test_good_label_maps_pass():
    for label_map in (None, "name", PER_SOURCE, {"CHEBI": "Chemical", "Disease": "Disease"}):
        check_label_map(label_map, LABELS, "target")


def test_partial_cross_entropy_by_hand():
    # two own tags (O, X) then one hidden target tag (H)
    logits = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [3.0, 3.0, 3.0]])
    gold = torch.tensor([0, 1, -1])
    z0 = math.log(math.e + 1 + math.e ** 2)
    z1 = math.log(1 + math.e + 1)
    expected = (z0 - math.log(math.e + math.e ** 2)) + (z1 - 1.0)
    outside = torch.tensor([True, False, True])
    got = _partial_cross_entropy(logits, gold, outside).item()
    assert got == pytest.approx(expected, rel=1e-6)
    # "any": an O token may also be the tied tag X: it adds nothing there (log 1 = 0)
    every = torch.tensor([True, True, True])
    assert _partial_cross_entropy(logits, gold, every).item() == pytest.approx(z1 - 1.0, rel=1e-6)
    # with nothing hidden it is the usual cross-entropy
    own = logits[:, :2]
    plain = F.cross_entropy(own, gold, ignore_index=-1, reduction="sum")
    got = _partial_cross_entropy(own, gold, torch.tensor([True, False])).item()
    assert got == pytest.approx(plain.item(), rel=1e-6)


def test_unknown_unannotated_types_train_the_target_rows_through_the_source():
    torch.manual_seed(0)
    config = NetworkConfig(word_width=6, label_map=PER_SOURCE, unannotated="unknown")
    net = DTNNetwork(config, "target", LABELS)
    assert sorted(net.partial) == ["craft", "ncbi", "pc"]
    # craft ties Chemical and leaves Disease (target tags 5-8) unannotated
    assert net.unannotated_craft.tolist() == [5, 6, 7, 8]
    batch = random_batch(6, [3, 2])
    gold = torch.tensor([0, 0, 0, 1, 3])  # O O O B-CHEBI E-CHEBI
    loss, _ = net(*batch, task="craft", gold=gold)
    loss.backward()
    grad = net.decoder.output["target"].weight.grad
    # the Disease rows take gradient from craft's O tokens: they are candidates there
    assert grad[5:9].abs().sum() > 0
    # the same loss by hand from the logits
    net.eval()  # no dropout: the same h for both computations
    with torch.no_grad():
        h, packing, _, _ = net.encode(*batch, task="craft")
        logits = net.teacher_forced_logits("craft", h, packing, gold)
        assert logits.shape == (5, 5 + 4)
        own = logits[:, :5]
        hidden = logits[:, 5:]
        z = logits.logsumexp(-1)
        expected = sum(
            (z[i] - torch.cat([own[i, :1], hidden[i]]).logsumexp(-1)) if g == 0
            else (z[i] - logits[i, g]) for i, g in enumerate(gold.tolist())
        ) / 5
        got, _ = net(*batch, task="craft", gold=gold)
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unannotated_o_keeps_the_plain_loss():
    config = NetworkConfig(word_width=6, label_map=PER_SOURCE)
    net = DTNNetwork(config, "target", LABELS)
    assert net.partial == []


def test_drop_sources_removes_the_partial_buffers():
    config = NetworkConfig(word_width=6, label_map=PER_SOURCE, unannotated="unknown")
    net = DTNNetwork(config, "target", LABELS)
    net.drop_sources()
    assert net.partial == [] and not hasattr(net, "unannotated_craft")
    assert net.sources == []


# ---------------------------------------------------------------- the component, real slices


def test_a_three_source_dtn_ner_trains_saves_reloads_and_predicts_the_same(tmp_path):
    import spacy
    from spacy.util import fix_random_seed
    from thinc.api import Adam

    from dtn_helpers import read_examples

    fix_random_seed(0)
    nlp = spacy.blank("en")
    label_map = {"ncbi": {"Disease": "Disease"}, "craft": {"CHEBI": "Chemical"},
                 "pc": {"Simple_chemical": "Chemical"}}
    nlp.add_pipe("dtn_ner", config={"model": {"label_map": label_map,
                                              "unannotated": "unknown"}})
    target = read_examples(nlp, "bc5cdr", "train", 24)
    sources = {
        "ncbi": read_examples(nlp, "ncbi-disease", "train", 12, task="ncbi"),
        "craft": read_examples(nlp, "craft-chem", "train", 12, task="craft"),
        "pc": read_examples(nlp, "bionlp13pc", "train", 40, task="pc"),
    }
    nlp.initialize(lambda: target + [eg for egs in sources.values() for eg in egs])
    ner = nlp.get_pipe("dtn_ner")
    network = ner.network
    assert sorted(network.sources) == ["craft", "ncbi", "pc"]
    assert sorted(network.partial) == ["craft", "ncbi", "pc"]
    assert sorted(network.decoder.tied) == ["craft", "ncbi", "pc"]
    optimizer = Adam(0.01)
    losses = {}
    # 36 steps: at 12 the network predicted nothing for 2 of 8 seeds (and on CI's test
    # order); at 36 every seed 0-7 finds 67-74 entities in these 24 sentences.
    for step in range(36):
        nlp.update(target[(step % 3) * 8:(step % 3 + 1) * 8], sgd=optimizer, losses=losses)
        task = ["ncbi", "craft", "pc"][step % 3]
        nlp.update(sources[task], sgd=optimizer, losses=losses)
    assert {"dtn_ner:ncbi", "dtn_ner:craft", "dtn_ner:pc", "dtn_ner:target"} <= set(losses)
    texts = [eg.reference.text for eg in target]
    expected = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert any(expected)
    nlp.to_disk(tmp_path / "three")
    loaded = spacy.load(tmp_path / "three")
    assert loaded.get_pipe("dtn_ner").network.sources == network.sources
    got = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe(texts)]
    assert got == expected


def test_a_bad_label_map_in_the_component_is_a_one_line_error():
    import spacy

    from dtn_helpers import read_examples

    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner", config={"model": {"label_map": {"CHEBI": "Chemicals"}}})
    target = read_examples(nlp, "bc5cdr", "train", 4)
    craft = read_examples(nlp, "craft-chem", "train", 60, task="craft")
    with pytest.raises(ValueError, match="the target's labels are Chemical, Disease") as err:
        nlp.initialize(lambda: target + craft)
    assert "\n" not in str(err.value)


def test_the_shared_gate_bias_starts_the_target_on_its_own_path():
    net = DTNNetwork(NetworkConfig(word_width=6, shared_gate_bias=-3.0), "target", LABELS)
    for component in (net.char, net.word, net.decoder):
        assert torch.all(component.shared.gate2.bias == -3.0)
    batch = random_batch(6, [4, 2])
    with torch.no_grad():
        _, gates = net.eval()(*batch, task="target", return_gates=True)
    # σ(-3 + small terms): the independent path carries most of the output at the start
    assert gates["word_g2"].mean().item() < 0.2
    even = DTNNetwork(NetworkConfig(word_width=6), "target", LABELS)
    assert torch.all(even.word.shared.gate2.bias == 0.0)


def test_unannotated_any_lets_an_o_token_be_a_tied_entity_too():
    config = NetworkConfig(word_width=6, label_map=PER_SOURCE, unannotated="any")
    net = DTNNetwork(config, "target", LABELS)
    # craft's own tags: O, B/I/E/S-CHEBI (tied to Chemical); then the hidden Disease tags
    assert net.outside_craft.tolist() == [True] * 5 + [True] * 4
    # pc: O, Gene (own, not tied: an O is not a gene), Simple_chemical (tied), then Disease
    assert net.outside_pc.tolist() == [True] + [False] * 4 + [True] * 4 + [True] * 4
    # a source that annotates every target label is partial under "any" only
    labels = {"target": ["Disease"], "ncbi": ["Disease"]}
    unknown = NetworkConfig(word_width=6, label_map="name", unannotated="unknown")
    assert DTNNetwork(unknown, "target", labels).partial == []
    any_net = DTNNetwork(NetworkConfig(word_width=6, label_map="name", unannotated="any"),
                         "target", labels)
    assert any_net.partial == ["ncbi"] and any_net.unannotated_ncbi.numel() == 0
    batch = random_batch(6, [3, 2])
    loss, _ = any_net(*batch, task="ncbi", gold=torch.tensor([0, 1, 3, 0, 0]))
    assert torch.isfinite(loss)


def test_partial_annotation_with_the_crf_decoder_is_refused():
    config = NetworkConfig(word_width=6, label_map=PER_SOURCE, unannotated="unknown",
                           decoder="crf")
    with pytest.raises(ValueError, match="needs decoder = 'lstm'"):
        DTNNetwork(config, "target", LABELS)


def _docbin(path, nlp, rows):
    """rows: (words, [(start, end, label)]) → a DocBin file."""
    from spacy.tokens import Doc, DocBin, Span

    docs = []
    for words, ents in rows:
        doc = Doc(nlp.vocab, words=words)
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
        docs.append(doc)
    DocBin(docs=docs).to_disk(path)
    return str(path)


@pytest.fixture
def teacher_corpora(tmp_path):
    """A target, two partially annotated sources and a rule-based teacher pipeline."""
    import spacy

    nlp = spacy.blank("en")
    target = _docbin(tmp_path / "t.spacy", nlp, [
        ("Aspirin causes headache .".split(), [(0, 1, "Chemical"), (2, 3, "Disease")])])
    ncbi = _docbin(tmp_path / "ncbi.spacy", nlp, [
        ("Ibuprofen relieves migraine in mice .".split(), [(2, 3, "Disease")])])
    pc = _docbin(tmp_path / "pc.spacy", nlp, [
        ("BRCA1 binds ATP and causes cancer .".split(),
         [(0, 1, "Gene"), (2, 3, "Simple_chemical")])])
    teacher = spacy.blank("en")
    ruler = teacher.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": label, "pattern": word} for word, label in [
        ("Ibuprofen", "Chemical"), ("migraine", "Disease"), ("mice", "Disease"),
        ("BRCA1", "Disease"), ("cancer", "Disease"), ("ATP", "Chemical")]])
    teacher.to_disk(tmp_path / "teacher")
    return dict(target=target, source=f"{ncbi},{pc}", source_name="ncbi,pc",
                teacher=tmp_path / "teacher")


def _ents(examples):
    return [[(ent.text, ent.label_) for ent in eg.reference.ents] for eg in examples]


def test_the_teacher_completes_only_what_a_source_leaves_unannotated(teacher_corpora):
    import spacy

    from spacy_dtn.tasks import get_task
    from spacy_dtn.training import create_pooled_corpus, create_transfer_corpus

    nlp = spacy.blank("en")
    label_map = {"ncbi": {"Disease": "Disease"}, "pc": {"Simple_chemical": "Chemical"}}
    pooled = create_pooled_corpus(label_map=label_map, **teacher_corpora)
    examples = list(pooled(nlp))
    # ncbi annotates Disease: the teacher adds its Chemical, not its Disease 'mice';
    # pc annotates Chemical: the teacher's Disease 'BRCA1' lies on a gold Gene and is not added
    assert _ents(examples) == [
        [("Aspirin", "Chemical"), ("headache", "Disease")],
        [("Ibuprofen", "Chemical"), ("migraine", "Disease")],
        [("ATP", "Chemical"), ("cancer", "Disease")],
    ]
    assert [get_task(eg) for eg in examples] == ["target"] * 3
    assert pooled.n_completed == {"ncbi": 1, "pc": 1}
    # a second pass (epoch) reads the teacher's cached entities: it does not run again
    pooled.teacher._nlp = None
    pooled.teacher.path = teacher_corpora["teacher"] / "missing"
    assert _ents(pooled(nlp)) == _ents(examples)

    transfer = create_transfer_corpus(label_map=label_map, **teacher_corpora)
    examples = list(transfer(nlp))
    assert _ents(examples)[1:] == [
        [("Ibuprofen", "Chemical"), ("migraine", "Disease")],
        [("BRCA1", "Gene"), ("ATP", "Simple_chemical"), ("cancer", "Disease")],
    ]
    assert [get_task(eg) for eg in examples] == ["target", "ncbi", "pc"]


def test_without_a_teacher_the_pool_leaves_unannotated_types_o(teacher_corpora):
    import spacy

    from spacy_dtn.training import create_pooled_corpus

    teacher_corpora["teacher"] = None
    pooled = create_pooled_corpus(label_map={"Disease": "Disease", "Simple_chemical": "Chemical"},
                                  **teacher_corpora)
    expected = [[("migraine", "Disease")], [("ATP", "Chemical")]]
    assert _ents(pooled(spacy.blank("en")))[1:] == expected
    with pytest.raises(ValueError, match="teacher: no such pipeline"):
        create_pooled_corpus(**{**teacher_corpora, "teacher": "nowhere/model-best"})


def test_a_source_label_left_out_of_the_table_stays_out_with_a_teacher(teacher_corpora, tmp_path):
    import spacy

    from spacy_dtn.training import create_pooled_corpus

    nlp = spacy.blank("en")
    # this source annotates Chemical too, but the table ties only its Disease: its chemicals
    # are dropped from the pool, and the teacher's Chemical on the same tokens is blocked
    mixed = _docbin(tmp_path / "mixed.spacy", nlp, [
        ("Ibuprofen relieves migraine .".split(), [(0, 1, "Chemical"), (2, 3, "Disease")])])
    pooled = create_pooled_corpus(
        target=teacher_corpora["target"], source=mixed, source_name="mixed",
        label_map={"Disease": "Disease"}, teacher=teacher_corpora["teacher"])
    assert _ents(pooled(nlp))[1] == [("migraine", "Disease")]
    assert pooled.n_completed == {"mixed": 0}
