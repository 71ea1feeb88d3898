"""Self-training on an unlabeled archive: the archive as a subsample's complement, the
confidence mask by hand, a dtn_ner teacher's confidences, two rounds of spaCy ner trained,
saved and reloaded, compare's self-training systems, and the bad archives."""
import json
import logging
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy import util
from spacy.cli.train import train
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import fix_random_seed

from convert_helpers import run_cli
from dtn_helpers import corpus_path, read_examples, train_steps
from spacy_dtn.archive import ArchiveError, read_unlabeled, text_key, write_complement
from spacy_dtn.layers.tagger import ents_tag_ids, tag_probabilities
from spacy_dtn.self_training import (SelfTrainingCorpus, confident_tokens,
                                     create_self_training_corpus, label_silver)
from spacy_dtn.subsample import subsample_indices
from spacy_dtn.tasks import SOURCE, TARGET, get_task
from spacy_dtn.teacher import Annotation, Teacher
from spacy_dtn.tools.compare import (CompareError, Run, parse_taught_by, run_compare,
                                     train_command)
from spacy_dtn.training import create_transfer_corpus
from test_compare import _empty_inputs, fake_runner

ROOT = Path(__file__).resolve().parents[1]


def read(path, vocab=None):
    return list(DocBin().from_disk(path).get_docs(vocab or Vocab()))


def iob(doc):
    """A doc's entity annotation per token: ``O``, ``B-X``/``I-X``, or ``-`` where missing."""
    return [t.ent_iob_ + (f"-{t.ent_type_}" if t.ent_type_ else "") or "-" for t in doc]


def hand_docs(n=10):
    """``n`` two-token docs ``"wI drugI"``, the second token a Chemical."""
    vocab = Vocab()
    docs = []
    for i in range(n):
        doc = Doc(vocab, words=[f"w{i}", f"drug{i}"], spaces=[True, False])
        doc.ents = [Span(doc, 1, 2, label="Chemical")]
        docs.append(doc)
    return docs


# The archive: the complement of the seeded subsample, labels dropped -----------------------


def test_the_complement_by_hand(tmp_path):
    DocBin(docs=hand_docs()).to_disk(tmp_path / "all.spacy")
    result = run_cli("subsample", tmp_path / "all.spacy", tmp_path / "gold.spacy", "--fraction",
                     "0.3", "--seed", "0", "--complement", tmp_path / "archive.spacy")
    assert result.exit_code == 0, result.output
    assert "Wrote the other 7 Docs" in result.output
    # SHA-256 of "0:i" ranks 4, 7, 9 lowest: those three are the gold, the other seven the archive
    assert subsample_indices(10, 0.3, 0) == [4, 7, 9]
    assert [d.text for d in read(tmp_path / "gold.spacy")] == ["w4 drug4", "w7 drug7",
                                                               "w9 drug9"]
    archive = read(tmp_path / "archive.spacy")
    assert [d.text for d in archive] == [f"w{i} drug{i}" for i in (0, 1, 2, 3, 5, 6, 8)]
    # labels dropped: missing, not O (nobody said these tokens are outside an entity)
    assert all(not d.has_annotation("ENT_IOB") and not d.ents for d in archive)
    assert {t.ent_iob_ for d in archive for t in d} == {""}


def real_slice(tmp_path, split, n_lines, name, corpus="bc5cdr"):
    """The complete sentences in the first ``n_lines`` lines of a real IOB table (BC5CDR
    unless named), converted by the project's converter into ``name``."""
    lines = corpus_path(corpus, f"{split}.tsv").read_text(encoding="utf8").splitlines()
    head = lines[:n_lines]
    while head and head[-1].strip():
        head.pop()
    tsv = tmp_path / f"{name}.tsv"
    tsv.write_text("\n".join(head) + "\n", encoding="utf8")
    result = run_cli("convert", "iob", tsv, tmp_path / name, "--no-progress")
    assert result.exit_code == 0, result.output
    return tmp_path / name


def test_the_complement_of_a_real_slice_is_what_the_reader_leaves_out(tmp_path):
    train_path = real_slice(tmp_path, "train", 1500, "train.spacy")
    everything = read(train_path)
    assert len(everything) > 40
    n, total = write_complement(train_path, tmp_path / "archive.spacy", 0.1, 2)
    assert total == len(everything) and n == total - round(0.1 * total)
    nlp = spacy.blank("en")
    gold = create_transfer_corpus(train_path, target_fraction=0.1, seed=2)
    gold_texts = [eg.reference.text for eg in gold(nlp)]
    archive_texts = [d.text for d in read(tmp_path / "archive.spacy")]
    # every doc is in exactly one of the two, in corpus order
    kept = set(subsample_indices(total, 0.1, 2))
    assert gold_texts == [d.text for i, d in enumerate(everything) if i in kept]
    assert archive_texts == [d.text for i, d in enumerate(everything) if i not in kept]
    assert sum(len(d.ents) for d in read(tmp_path / "archive.spacy")) == 0
    assert sum(len(d.ents) for d in everything) > 0


# The confidence mask ------------------------------------------------------------------


def test_the_confidence_mask_by_hand():
    # tokens: 0 O, 1-2 Chemical, 3 O, 4 Disease, 5 O
    annotation = Annotation([(1, 3, "Chemical"), (4, 5, "Disease")],
                            [0.9, 0.95, 0.4, 0.6, 0.99, 0.8])
    # 0.4 < 0.7 takes its whole entity (tokens 1-2); 0.6 < 0.7 is token 3 alone
    assert confident_tokens(6, annotation, 0.7) == [True, False, False, False, True, True]
    assert confident_tokens(6, annotation, 0.3) == [True] * 6
    assert confident_tokens(6, annotation, 0.85) == [True, False, False, False, True, False]
    doc = Doc(Vocab(), words=["Use", "of", "cocaine", "causes", "seizures", "."])
    assert label_silver(doc, annotation, 0.7) == 3
    assert iob(doc) == ["O", "-", "-", "-", "B-Disease", "O"]
    # a teacher without confidences (spaCy's transition-based ner): every token is kept
    plain = Annotation([(1, 3, "Chemical")], None)
    assert confident_tokens(6, plain, 0.99) == [True] * 6
    doc = Doc(Vocab(), words=["Use", "of", "cocaine", "causes", "seizures", "."])
    assert label_silver(doc, plain, 0.99) == 0
    assert iob(doc) == ["O", "B-Chemical", "I-Chemical", "O", "O", "O"]


def test_missing_silver_tokens_are_unknown_to_dtn_ner_s_loss():
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner")
    doc = nlp.make_doc("Use of cocaine causes seizures .")
    label_silver(doc, Annotation([(1, 3, "Chemical"), (4, 5, "Disease")],
                                 [0.9, 0.95, 0.4, 0.6, 0.99, 0.8]), 0.7)
    eg = Example(nlp.make_doc(doc.text), doc)
    nlp.initialize(lambda: [eg])
    component = nlp.get_pipe("dtn_ner")
    ids = component._gold_tag_ids(eg, component.network.tagsets["target"])
    assert ids[1:4].tolist() == [-1, -1, -1] and ids[0] == 0 and ids[5] == 0
    assert eg.get_aligned_ner()[1:4] == [None, None, None]  # spaCy's ner: unknown too


@pytest.fixture(scope="module")
def dtn_teacher(tmp_path_factory):
    """A dtn_ner pipeline trained 30 steps on 32 BC5CDR sentences, saved."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner")
    target = read_examples(nlp, "bc5cdr", "train", 32)
    nlp.initialize(lambda: target)
    train_steps(nlp, target, [], steps=30)
    path = tmp_path_factory.mktemp("dtn") / "teacher"
    nlp.to_disk(path)
    return path


def test_a_dtn_teacher_s_confidence_is_the_probability_of_the_tag_it_chose(dtn_teacher):
    teacher = Teacher(dtn_teacher)
    nlp = teacher.nlp
    docs = [eg.reference for eg in read_examples(nlp, "bc5cdr", "devel", 24)]
    annotations = teacher.annotations(docs)
    predicted = list(nlp.pipe([d.text for d in docs]))
    component = nlp.get_pipe("dtn_ner")
    tagset = component.network.tagsets["target"]
    probabilities = tag_probabilities(component.model, predicted)
    n_entities = 0
    for doc, annotation, probs in zip(predicted, annotations, probabilities):
        assert annotation.entities == [(e.start, e.end, e.label_) for e in doc.ents]
        n_entities += len(doc.ents)
        ids = ents_tag_ids(doc, tagset)
        # greedy decoding took the most probable valid tag at every token
        assert (probs.argmax(axis=1) == ids).all()
        assert numpy.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert annotation.confidences == pytest.approx(probs.max(axis=1).tolist(), abs=1e-6)
    assert n_entities > 0
    confidences = numpy.concatenate([a.confidences for a in annotations])
    assert confidences.min() < confidences.max() <= 1.0
    # the mask at the median confidence leaves about half the tokens unknown
    median = float(numpy.median(confidences))
    kept = sum(sum(confident_tokens(len(d), a, median)) for d, a in zip(docs, annotations))
    assert 0 < kept < len(confidences)
    assert teacher.annotations(docs[:2])[0] is annotations[0]  # cached, not run again


def test_a_dtn_teacher_s_unsure_tokens_are_missing_in_the_silver(dtn_teacher, slices):
    reader = create_self_training_corpus(slices["train"], slices["archive"], dtn_teacher,
                                         target_fraction=0.5, seed=0, threshold=0.9)
    examples = list(reader(spacy.blank("en")))
    silver = [eg.reference for eg in examples[len(examples) - reader.stats.silver:]]
    annotations = reader.teacher.annotations(silver)
    n_missing = 0
    for doc, annotation in zip(silver, annotations):
        keep = confident_tokens(len(doc), annotation, 0.9)
        assert [t.ent_iob_ != "" for t in doc] == keep
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            ent for ent in annotation.entities if keep[ent[0]]]
        n_missing += keep.count(False)
    assert n_missing == reader.stats.missing_tokens > 0


def test_the_reader_propagates_a_dtn_teacher_s_silver_and_counts_it(dtn_teacher, slices):
    plain = create_self_training_corpus(slices["train"], slices["archive"], dtn_teacher,
                                        target_fraction=0.5, seed=0, threshold=0.9)
    spread = create_self_training_corpus(slices["train"], slices["archive"], dtn_teacher,
                                         target_fraction=0.5, seed=0, threshold=0.9,
                                         propagate=True)
    nlp = spacy.blank("en")
    before = list(plain(nlp))[-plain.stats.silver:]
    after = list(spread(nlp))[-spread.stats.silver:]
    assert [eg.reference.text for eg in before] == [eg.reference.text for eg in after]
    n_before = sum(len(eg.reference.ents) for eg in before)
    n_after = sum(len(eg.reference.ents) for eg in after)
    assert spread.stats.propagated > 0 and plain.stats.propagated == 0
    # each propagated entity is kept whole (its tokens count as confident) and no teacher
    # entity is lost
    assert n_after == n_before + spread.stats.propagated
    assert spread.stats.missing_tokens <= plain.stats.missing_tokens
    for old, new in zip(before, after):
        kept = {(e.start, e.end, e.label_) for e in old.reference.ents}
        assert kept <= {(e.start, e.end, e.label_) for e in new.reference.ents}


def test_a_spacy_ner_teacher_gives_no_confidences(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("ner").add_label("Chemical")
    nlp.initialize()
    nlp.to_disk(tmp_path / "ner")
    annotation = Teacher(tmp_path / "ner").annotations([nlp.make_doc("Aspirin helps .")])[0]
    assert annotation.confidences is None


# Two rounds of self-training, trained with spacy train ------------------------------------

TRAIN_OVERRIDES = {
    "corpora.train.target_fraction": 0.5,
    "components.tok2vec.model.embed.include_static_vectors": False,
    "training.max_steps": 30, "training.eval_frequency": 15,
    "training.optimizer.learn_rate": 0.01,
    "training.batcher.size.start": 300, "training.batcher.size.stop": 300,
}


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    """Real BC5CDR slices, converted: train (half of it gold, half the archive), dev, test."""
    tmp = tmp_path_factory.mktemp("slices")
    paths = {"train": real_slice(tmp, "train", 2000, "train.spacy"),
             "dev": real_slice(tmp, "devel", 400, "dev.spacy"),
             "test": real_slice(tmp, "test", 400, "test.spacy")}
    write_complement(paths["train"], tmp / "archive.spacy", 0.5, 0)
    paths["archive"] = tmp / "archive.spacy"
    return paths


def spacy_train(config, output, slices, **overrides):
    """``spacy train`` a few steps; an override given as None is left out."""
    overrides = {"paths.target": str(slices["train"]), "paths.dev": str(slices["dev"]),
                 **TRAIN_OVERRIDES, **overrides}
    train(ROOT / "configs" / config, output,
          overrides={key: value for key, value in overrides.items() if value is not None})
    return output / "model-best"


def silver_of(slices, teacher):
    """The silver docs the self-training reader makes with ``teacher``, and the reader."""
    reader = create_self_training_corpus(
        slices["train"], slices["archive"], teacher, target_fraction=0.5, seed=0,
        held_out=f"{slices['dev']},{slices['test']}")
    nlp = spacy.blank("en")
    examples = list(reader(nlp))
    return [eg.reference for eg in examples[len(examples) - reader.stats.silver:]], reader


def test_two_rounds_of_self_training_train_save_reload_and_predict(slices, tmp_path):
    teacher = spacy_train("ner_efficiency.cfg", tmp_path / "ner", slices)
    rounds = [teacher]
    for r in (1, 2):
        rounds.append(spacy_train(
            "ner_self.cfg", tmp_path / f"self{r}", slices,
            **{"paths.unlabeled": str(slices["archive"]), "paths.teacher": str(rounds[-1]),
               "corpora.train.held_out": f"{slices['dev']},{slices['test']}"}))
    # round 2's silver is round 1's student's entities on the archive
    silver, reader = silver_of(slices, rounds[1])
    assert reader.stats.silver == len(read(slices["archive"])) > 0
    assert reader.stats.held_out_duplicates == 0 and reader.stats.missing_tokens == 0
    student = spacy.load(rounds[1])
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in silver] == [
        [(e.start, e.end, e.label_) for e in doc.ents]
        for doc in student.pipe([Doc(student.vocab, words=[t.text for t in d],
                                     spaces=[bool(t.whitespace_) for t in d]) for d in silver])]
    assert sum(len(d.ents) for d in silver) > 0
    first_silver, _ = silver_of(slices, rounds[0])
    assert sum(len(d.ents) for d in first_silver) > 0  # the first teacher found entities
    # the last stage on the gold alone starts from round 2's model
    final = spacy_train("ner_self_ft.cfg", tmp_path / "self_ft", slices,
                        **{"paths.pretrained": str(rounds[2]), "training.max_steps": 6,
                           "training.eval_frequency": 3,
                           # the sourced tok2vec keeps the settings it was trained with
                           "components.tok2vec.model.embed.include_static_vectors": None})
    texts = [d.text for d in read(slices["dev"])]
    for path in (rounds[2], final):
        nlp = spacy.load(path)
        before = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
        nlp.to_disk(tmp_path / "saved")
        again = spacy.load(tmp_path / "saved")
        assert [[(e.start_char, e.end_char, e.label_) for e in d.ents]
                for d in again.pipe(texts)] == before


def test_the_dtn_student_learns_gold_sources_and_confident_silver_and_reloads(
        dtn_teacher, slices, tmp_path):
    """configs/dtn_self.cfg: the DTN with a source task and the archive labelled by a dtn_ner
    teacher; the config's own reader gives the source its task and the silver the target's,
    unsure tokens unknown; the student saves, reloads and predicts the same entities."""
    source = real_slice(tmp_path, "train", 600, "source.spacy", corpus="ncbi-disease")
    overrides = {"paths.source": str(source), "paths.unlabeled": str(slices["archive"]),
                 "paths.teacher": str(dtn_teacher), "corpora.train.threshold": 0.9,
                 "corpora.train.held_out": f"{slices['dev']},{slices['test']}"}
    config = util.load_config(ROOT / "configs" / "dtn_self.cfg", interpolate=True, overrides={
        "paths.target": str(slices["train"]), "paths.dev": str(slices["dev"]),
        "corpora.train.target_fraction": 0.5, **overrides})
    reader = registry.resolve({"train": config["corpora"]["train"]})["train"]
    examples = list(reader(spacy.blank("en")))
    tasks = [get_task(eg) for eg in examples]
    n_source = len(read(source))
    assert tasks.count(SOURCE) == n_source
    assert tasks.count(TARGET) == len(subsample_indices(len(read(slices["train"])), 0.5, 0)) + \
        len(read(slices["archive"]))
    silver = [eg.reference for eg in examples[-reader.stats.silver:]]
    assert reader.stats.missing_tokens == sum(
        1 for doc in silver for token in doc if token.ent_iob == 0) > 0  # unsure: unknown
    student = spacy_train("dtn_self.cfg", tmp_path / "dtn_self", slices, **overrides, **{
        "components.tok2vec.model.embed.include_static_vectors": None,  # no tok2vec here
        "training.batcher.size.start": None, "training.batcher.size.stop": None})
    nlp = spacy.load(student)
    assert set(nlp.get_pipe("dtn_ner").network.tagsets) == {TARGET, SOURCE}
    texts = [d.text for d in read(slices["dev"])]
    before = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "saved")
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents]
            for d in spacy.load(tmp_path / "saved").pipe(texts)] == before


# Bad archives -------------------------------------------------------------------------


class FixedTeacher(Teacher):
    """A teacher that finds nothing: the bad-input tests need no trained pipeline."""

    def __init__(self):
        self.path = Path("fixed")
        self._cache = {}

    def annotations(self, docs):
        return [Annotation([], None) for _ in docs]


def self_training(slices, archive, **options):
    gold = create_transfer_corpus(slices["train"], target_fraction=0.5, seed=0)
    return SelfTrainingCorpus(gold, archive, FixedTeacher(),
                              held_out=[slices["dev"], slices["test"]], **options)


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                            for i, t in enumerate(texts)), encoding="utf8")
    return path


@pytest.mark.parametrize("kind", ["docbin", "jsonl"])
def test_an_empty_archive_is_a_one_line_error(slices, tmp_path, kind):
    if kind == "docbin":
        archive = tmp_path / "empty.spacy"
        DocBin().to_disk(archive)
    else:
        archive = tmp_path / "empty.jsonl"
        archive.write_text("\n", encoding="utf8")
    with pytest.raises(ArchiveError, match="holds no text to label") as err:
        list(self_training(slices, archive)(spacy.blank("en")))
    assert "\n" not in str(err.value) and str(archive) in str(err.value)


def test_gold_dev_and_test_sentences_in_the_archive_are_dropped_and_counted(
        slices, tmp_path, caplog):
    nlp = spacy.blank("en")
    gold = [eg.reference.text for eg in
            create_transfer_corpus(slices["train"], target_fraction=0.5, seed=0)(nlp)]
    dev = [d.text for d in read(slices["dev"])]
    test = [d.text for d in read(slices["test"])]
    others = [d.text for d in read(slices["archive"])][:5]
    # a dev sentence with its spacing changed is still that sentence
    respaced = dev[1].replace(" .", ".").replace(" ,", ",").replace(" ", "  ")
    archive = write_jsonl(tmp_path / "archive.jsonl",
                          gold[:3] + [dev[0], respaced, test[0]] + others)
    reader = self_training(slices, archive)
    with caplog.at_level(logging.WARNING, logger="spacy.dtn"):
        examples = list(reader(nlp))
    assert (reader.stats.gold_duplicates, reader.stats.held_out_duplicates,
            reader.stats.silver) == (3, 3, 5)
    assert len(examples) == len(gold) + 5
    silver_keys = {text_key(eg.reference) for eg in examples[len(gold):]}
    assert silver_keys == {text_key(nlp.make_doc(t)) for t in others}
    assert "dropped 3 texts that are gold train sentences and 3 that are held-out" in caplog.text
    # nothing left: an error, not a training on the gold alone by accident
    only_dev = write_jsonl(tmp_path / "dev.jsonl", dev[:4])
    with pytest.raises(ArchiveError, match="none of the 4 texts .* 4 held-out sentences"):
        list(self_training(slices, only_dev)(nlp))


def test_non_utf8_lines_of_a_jsonl_archive_are_counted_and_named(slices, tmp_path, caplog):
    archive = tmp_path / "notes.jsonl"
    good = json.dumps({"id": 1, "text": "Aspirin was given ."}).encode()
    bad = b'{"id": 2, "text": "caf\xe9 au lait"}'
    archive.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b"1", b"3") + b"\n")
    texts = read_unlabeled(archive, spacy.blank("en").make_doc, Vocab())
    assert [d.text for d in texts.docs] == ["Aspirin was given .", "Aspirin was given ."]
    assert texts.n_bad == 1 and dict(texts.bad) == {"invalid UTF-8": 1}
    assert texts.named_bad == [f"{archive}:2: invalid UTF-8 at byte 22"]
    reader = self_training(slices, archive)
    with caplog.at_level(logging.WARNING, logger="spacy.dtn"):
        list(reader(spacy.blank("en")))
    assert reader.stats.silver == 2
    assert f"left out 1 unreadable records (1 invalid UTF-8); first: {archive}:2" in caplog.text


def test_bad_settings_of_the_reader(slices):
    with pytest.raises(ValueError, match="threshold must lie in"):
        create_self_training_corpus(slices["train"], slices["archive"], None, threshold=1.5)
    with pytest.raises(ValueError, match="gold_repeats must be 1 or more"):
        create_self_training_corpus(slices["train"], slices["archive"], None, gold_repeats=0)
    reader = create_self_training_corpus(slices["train"], slices["archive"], None)
    with pytest.raises(ValueError, match="no paths.teacher"):
        list(reader(spacy.blank("en")))
    with pytest.raises(ValueError, match="no such teacher pipeline"):
        create_self_training_corpus(slices["train"], slices["archive"], "nowhere")


def test_gold_repeats_weigh_the_gold_against_the_silver(slices):
    nlp = spacy.blank("en")
    once = list(self_training(slices, slices["archive"])(nlp))
    thrice = list(self_training(slices, slices["archive"], gold_repeats=3)(nlp))
    n_silver = len(read(slices["archive"]))
    n_gold = len(once) - n_silver
    assert len(thrice) == 3 * n_gold + n_silver


# compare: the self-training systems, the archive of each seed, the label-equivalence line --


def test_the_system_s_fraction_wins_over_compare_s(tmp_path):
    options = dict(target="t.spacy", source=None, dev="d.spacy", test="e.spacy", vectors=None,
                   fraction=0.1, max_steps=100, eval_frequency=10, patience=50, dev_limit=0,
                   gpu_id=-1)
    from spacy_dtn.tools.compare import parse_systems
    systems = parse_systems(["ner_30pct", "ner_100pct"])
    for name, fraction in (("ner_30pct", "0.3"), ("ner_100pct", "1.0")):
        cmd = train_command(Run(name, systems[name], 0, tmp_path), options)
        given = [cmd[i + 1] for i, arg in enumerate(cmd)
                 if arg == "--corpora.train.target_fraction"]
        assert given == ["0.1", fraction]  # spaCy takes the last of a repeated override
    from spacy.cli._util import parse_config_overrides
    overrides = cmd[cmd.index("--output") + 2:]
    gpu = overrides.index("--gpu-id")  # spacy train's own option, not an override
    del overrides[gpu: gpu + 2]
    assert parse_config_overrides(overrides)["corpora.train.target_fraction"] == 1.0


def compare_inputs(tmp_path, monkeypatch):
    """compare's options over a hand-made target ``t.spacy`` and the few config lines each
    kind of system is told apart by: ``ner.cfg``, ``pooled.cfg`` (a source), ``self.cfg``
    (an archive and a teacher), ``ft.cfg`` (a pretrained pipeline)."""
    options = _empty_inputs(tmp_path, monkeypatch)
    DocBin(docs=hand_docs()).to_disk(tmp_path / "t.spacy")
    (tmp_path / "ner.cfg").write_text("[paths]\ntarget = null\n")
    (tmp_path / "pooled.cfg").write_text("[paths]\ntarget = null\nsource = null\n")
    (tmp_path / "self.cfg").write_text(
        "[paths]\ntarget = null\nunlabeled = null\nteacher = null\n"
        "[corpora]\n[corpora.train]\nheld_out = null\n")
    (tmp_path / "ft.cfg").write_text("[paths]\ntarget = null\npretrained = null\n")
    return options


def test_compare_gives_each_seed_its_own_archive_and_chains_the_rounds(tmp_path, monkeypatch):
    options = compare_inputs(tmp_path, monkeypatch)
    systems = {"ner_self_ft": "ft.cfg", "ner_self2": "self.cfg", "ner_self": "self.cfg",
               "ner": "ner.cfg"}
    f1_of = {name: {0: 0.5, 1: 0.6} for name in systems}
    with pytest.raises(CompareError, match="ner_self2, ner_self read an unlabeled archive"):
        run_compare(systems, [0, 1], tmp_path / "out", options, runner=fake_runner([], f1_of))
    with pytest.raises(CompareError, match="not both"):
        run_compare(systems, [0], tmp_path / "out", {**options, "unlabeled": "t.spacy",
                                                      "archive_complement": True})
    # a variant of ner_self (another threshold) needs to be told its teacher
    with pytest.raises(CompareError, match="ner_self_t9 reads an unlabeled archive but has no "
                                           "teacher: add --taught-by ner_self_t9=SYSTEM"):
        run_compare({"ner": "ner.cfg", "ner_self_t9": "self.cfg"}, [0], tmp_path / "out",
                    {**options, "archive_complement": True})
    variant = []
    run_compare({"ner": "ner.cfg", "ner_self_t9": "self.cfg"}, [0], tmp_path / "variant",
                {**options, "archive_complement": True,
                 "taught_by": parse_taught_by(["ner_self_t9=ner"])},
                runner=fake_runner(variant, {"ner": {0: 0.5}, "ner_self_t9": {0: 0.5}}))
    taught = [cmd for cmd in variant if "ner_self_t9" in cmd[cmd.index("--output") + 1]][0]
    assert taught[taught.index("--paths.teacher") + 1].endswith("seed-0/ner/model-best")
    with pytest.raises(CompareError, match="--taught-by: expected NAME=TEACHER"):
        parse_taught_by(["ner_self_t9"])
    calls = []
    result = run_compare(systems, [0, 1], tmp_path / "out", {**options, "fraction": 0.3,
                                                             "archive_complement": True},
                         runner=fake_runner(calls, f1_of))
    assert "complement" in result["setting"]["unlabeled"]
    assert "* unlabeled: `complement of each seed's subsample`" in \
        (tmp_path / "out" / "compare.md").read_text()
    trains = {tuple(cmd[cmd.index("--output") + 1].rsplit("/", 2)[1:]): cmd
              for cmd in calls if cmd[2] == "spacy"}
    order = [name for seed, name in trains if seed == "seed-0"]
    assert order.index("ner") < order.index("ner_self") < order.index("ner_self2")
    assert order.index("ner_self") < order.index("ner_self_ft")
    for seed in (0, 1):
        runs = tmp_path / "out" / "runs" / f"seed-{seed}"
        archive = [d.text for d in read(runs / "archive.spacy")]
        kept = subsample_indices(10, 0.3, seed)
        assert archive == [f"w{i} drug{i}" for i in range(10) if i not in kept]
        first = trains[(f"seed-{seed}", "ner_self")]
        pairs = dict(zip(first, first[1:]))
        assert pairs["--paths.unlabeled"] == str(runs / "archive.spacy")
        assert pairs["--paths.teacher"] == str(runs / "ner" / "model-best")
        assert pairs["--corpora.train.held_out"] == "d.spacy,e.spacy"
        second = dict(zip(trains[(f"seed-{seed}", "ner_self2")],
                          trains[(f"seed-{seed}", "ner_self2")][1:]))
        assert second["--paths.teacher"] == str(runs / "ner_self" / "model-best")
        ft = dict(zip(trains[(f"seed-{seed}", "ner_self_ft")],
                      trains[(f"seed-{seed}", "ner_self_ft")][1:]))
        assert ft["--paths.pretrained"] == str(runs / "ner_self" / "model-best")
        assert "--paths.unlabeled" not in trains[(f"seed-{seed}", "ner")]


def test_the_compare_command_line_takes_the_archive(tmp_path, monkeypatch):
    options = _empty_inputs(tmp_path, monkeypatch)
    seen = {}

    def fake_run_compare(systems, seeds, output_dir, options, **kwargs):
        seen.update(options)
        return {"setting": {}, "seeds": seeds, "systems": {}}

    from typer.testing import CliRunner

    from spacy_dtn.__main__ import app
    from spacy_dtn.cli import compare as compare_cli
    monkeypatch.setattr(compare_cli, "run_compare", fake_run_compare)
    monkeypatch.setattr(compare_cli, "format_markdown", lambda result: "")
    monkeypatch.setattr(sys, "argv", ["spacy_dtn", "compare"])
    run_cli = lambda *args: CliRunner().invoke(app, [str(a) for a in args])  # noqa: E731
    common = ["compare", "--target", options["target"], "--dev", options["dev"], "--test",
              options["test"], "--system", "ner", "--system", "ner_self"]
    result = run_cli(*common, "--archive-complement")
    assert result.exit_code == 0, result.output
    assert seen["archive_complement"] is True and seen["unlabeled"] is None
    result = run_cli(*common, "--unlabeled", tmp_path / "s.spacy", "--taught-by", "ner_self=dtn")
    assert result.exit_code == 0, result.output
    assert seen["archive_complement"] is False and seen["unlabeled"] == "s.spacy"
    assert seen["taught_by"] == {"ner_self": "dtn"}


def test_compare_teaches_ner_pool_self_with_the_transfer_anchor(tmp_path, monkeypatch):
    """ner_pool_self is taught by ner_pool_ft (itself trained on from ner_pooled) and
    ner_pool_self_ft trains on ner_pool_self's model-best: four runs in that order, without
    --taught-by, all from the known names."""
    options = compare_inputs(tmp_path, monkeypatch)
    systems = {"ner_pool_self_ft": "ft.cfg", "ner_pool_self": "self.cfg",
               "ner_pool_ft": "ft.cfg", "ner_pooled": "pooled.cfg"}
    calls = []
    run_compare(systems, [0], tmp_path / "out", {**options, "archive_complement": True},
                runner=fake_runner(calls, {name: {0: 0.5} for name in systems}))
    trains = {cmd[cmd.index("--output") + 1].rsplit("/", 1)[1]: dict(zip(cmd, cmd[1:]))
              for cmd in calls if cmd[2] == "spacy"}
    runs = tmp_path / "out" / "runs" / "seed-0"
    assert list(trains) == ["ner_pooled", "ner_pool_ft", "ner_pool_self", "ner_pool_self_ft"]
    assert trains["ner_pool_ft"]["--paths.pretrained"] == str(runs / "ner_pooled" / "model-best")
    assert trains["ner_pool_self"]["--paths.teacher"] == str(runs / "ner_pool_ft" / "model-best")
    assert trains["ner_pool_self"]["--paths.unlabeled"] == str(runs / "archive.spacy")
    assert trains["ner_pool_self_ft"]["--paths.pretrained"] == \
        str(runs / "ner_pool_self" / "model-best")
    assert "--paths.unlabeled" not in trains["ner_pool_self_ft"]


def test_compare_teaches_the_propagating_rounds_in_order(tmp_path, monkeypatch):
    """ner_pool_prop is taught by ner_pool_ft, ner_pool_prop2 by ner_pool_prop; both read
    the archive with propagation on, as their known configs say."""
    from spacy_dtn.tools.compare import KNOWN_SYSTEMS

    assert KNOWN_SYSTEMS["ner_pool_prop2"] == KNOWN_SYSTEMS["ner_pool_prop"] == \
        "configs/ner_self.cfg --corpora.train.propagate true"
    options = compare_inputs(tmp_path, monkeypatch)
    propagating = "self.cfg --corpora.train.propagate true"
    systems = {"ner_pool_prop2": propagating, "ner_pool_prop": propagating,
               "ner_pool_ft": "ft.cfg", "ner_pooled": "pooled.cfg"}
    calls = []
    run_compare(systems, [0], tmp_path / "out", {**options, "archive_complement": True},
                runner=fake_runner(calls, {name: {0: 0.5} for name in systems}))
    trains = {cmd[cmd.index("--output") + 1].rsplit("/", 1)[1]: dict(zip(cmd, cmd[1:]))
              for cmd in calls if cmd[2] == "spacy"}
    runs = tmp_path / "out" / "runs" / "seed-0"
    assert list(trains) == ["ner_pooled", "ner_pool_ft", "ner_pool_prop", "ner_pool_prop2"]
    assert trains["ner_pool_prop"]["--paths.teacher"] == str(runs / "ner_pool_ft" / "model-best")
    assert trains["ner_pool_prop2"]["--paths.teacher"] == \
        str(runs / "ner_pool_prop" / "model-best")
    for name in ("ner_pool_prop", "ner_pool_prop2"):
        assert trains[name]["--corpora.train.propagate"] == "true"
        assert trains[name]["--paths.unlabeled"] == str(runs / "archive.spacy")
