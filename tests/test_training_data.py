"""The reader ``spacy_dtn.TransferCorpus.v1`` and the batcher ``spacy_dtn.batch_by_task.v1``.

Corpora are small DocBins built from the first lines of the real IOB tables, read in place.
"""
import logging
from collections import Counter
from pathlib import Path
from typing import List, Tuple

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import compounding

from spacy_dtn.subsample import subsample
from spacy_dtn.tasks import TARGET, get_task, set_task
from spacy_dtn.training import configure_batch_by_task, create_transfer_corpus

from dtn_helpers import DATA, read_iob
pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"needs the corpora in {DATA}")


def write_docbin(path: Path, sents, vocab=None) -> List[Doc]:
    vocab = vocab if vocab is not None else spacy.blank("en").vocab
    docs = [Doc(vocab, words=words, ents=tags) for words, tags in sents]
    DocBin(docs=docs).to_disk(path)
    return docs


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    target = read_iob(DATA / "bc5cdr" / "train.tsv", 3000)
    source = read_iob(DATA / "ncbi-disease" / "train.tsv", 2000)
    write_docbin(root / "target.spacy", target)
    write_docbin(root / "source.spacy", source)
    return root, target, source


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def words_of(eg_or_doc) -> Tuple[str, ...]:
    doc = eg_or_doc.reference if isinstance(eg_or_doc, Example) else eg_or_doc
    return tuple(t.text for t in doc)


# ---------------------------------------------------------------- reader


def test_reader_marks_tasks_and_reads_source_in_full(corpora, nlp):
    root, target, source = corpora
    reader = create_transfer_corpus(
        root / "target.spacy", root / "source.spacy", target_fraction=0.1, seed=3,
        source_name="ncbi",
    )
    examples = list(reader(nlp))
    tasks = Counter(get_task(eg) for eg in examples)
    assert tasks == {"target": round(0.1 * len(target)), "ncbi": len(source)}
    # Source examples are the source sentences, all of them, in order.
    assert [words_of(eg) for eg in examples if get_task(eg) == "ncbi"] == [
        tuple(w) for w, _ in source
    ]
    # Gold entities come through (the reader reads spaCy DocBins with spaCy's Corpus).
    assert sum(len(eg.reference.ents) for eg in examples if get_task(eg) == TARGET) > 0
    assert reader.stats["ncbi"]["examples"] == len(source)
    assert reader.stats["target"]["docs_total"] == len(target)


def test_reader_target_subsample_is_subsample(corpora, nlp):
    root, target, _ = corpora
    expected = [tuple(w) for w in subsample([w for w, _ in target], 0.25, 11)]
    reader = create_transfer_corpus(root / "target.spacy", target_fraction=0.25, seed=11)
    got = [words_of(eg) for eg in reader(nlp)]
    assert got == expected
    assert len(got) == round(0.25 * len(target))
    other = [words_of(eg) for eg in create_transfer_corpus(
        root / "target.spacy", target_fraction=0.25, seed=12)(nlp)]
    assert other != got  # the seed matters
    # The same selection on the next pass.
    assert [words_of(eg) for eg in reader(nlp)] == got


def test_reader_counts_and_reports_max_length_skips(corpora, nlp, tmp_path, caplog, capsys):
    _, target, _ = corpora
    lengths = [len(words) for words, _ in target]
    max_length = 30
    too_long = [n for n in lengths if n >= max_length]
    assert 0 < len(too_long) < len(lengths)  # the slice has both kinds
    path = tmp_path / "t.spacy"
    write_docbin(path, target)
    reader = create_transfer_corpus(path, max_length=max_length)
    with caplog.at_level(logging.INFO, logger="spacy"):
        first = list(reader(nlp))
        second = list(reader(nlp))
    assert len(first) == len(second) == len(lengths) - len(too_long)
    assert all(len(eg.reference) < max_length for eg in first)
    assert reader.stats["target"]["skipped"] == len(too_long)
    assert reader.stats["target"]["skipped_tokens"] == sum(too_long)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # reported once, not once per pass
    assert f"skipped {len(too_long)} " in warnings[0].getMessage()
    printed = " ".join(capsys.readouterr().out.split())  # wasabi wraps at 80 columns
    assert printed.count("TransferCorpus: target") == 1
    assert f"kept {len(lengths)} of {len(lengths)} docs" in printed
    # spaCy builds the train reader twice (initialize, then the loop): still one report.
    caplog.clear()
    assert len(list(create_transfer_corpus(path, max_length=max_length)(nlp))) == len(first)
    assert not caplog.records
    assert "TransferCorpus" not in capsys.readouterr().out


def test_reader_max_length_splits_docs_with_sentences(nlp, tmp_path):
    """spaCy's rule: a long doc with sentence boundaries is split; long sentences are dropped."""
    words = ["a"] * 3 + ["b"] * 6 + ["c"] * 2  # sentences of 3, 6 and 2 tokens
    starts = [True, False, False, True] + [False] * 5 + [True, False]
    doc = Doc(nlp.vocab, words=words, sent_starts=starts)
    short = Doc(nlp.vocab, words=["d", "e"])
    DocBin(docs=[doc, short], attrs=["SENT_START"]).to_disk(tmp_path / "s.spacy")
    reader = create_transfer_corpus(tmp_path / "s.spacy", max_length=5)
    got = [words_of(eg) for eg in reader(nlp)]
    assert got == [("a",) * 3, ("c",) * 2, ("d", "e")]
    assert reader.stats["target"]["skipped"] == 1
    assert reader.stats["target"]["skipped_tokens"] == 6


def test_reader_several_sources(corpora, nlp):
    root, target, source = corpora
    paths = f"{root / 'source.spacy'},{root / 'target.spacy'}"
    reader = create_transfer_corpus(
        root / "target.spacy", paths, target_fraction=0.5, source_name="ncbi,cdr_full"
    )
    tasks = Counter(get_task(eg) for eg in reader(nlp))
    assert tasks == {
        "target": round(0.5 * len(target)), "ncbi": len(source), "cdr_full": len(target)
    }
    with pytest.raises(ValueError, match="source names"):
        create_transfer_corpus(root / "target.spacy", paths, source_name="a,b,c")


# ---------------------------------------------------------------- batcher


def stream(nlp, n_target: int, n_source: int, length: int = 5) -> List[Example]:
    """Hand-made examples of ``length`` tokens each, ``i``-th word names the example."""
    examples = []
    for task, n in ((TARGET, n_target), ("source", n_source)):
        for i in range(n):
            doc = Doc(nlp.vocab, words=[f"{task}{i}"] + ["x"] * (length - 1))
            set_task(doc, task)
            examples.append(Example(doc.copy(), doc))
    return examples


def test_batcher_single_task_batches_each_example_once(corpora, nlp):
    root, _, _ = corpora
    examples = list(create_transfer_corpus(
        root / "target.spacy", root / "source.spacy", target_fraction=0.5)(nlp))
    batcher = configure_batch_by_task(size=200, seed=1)
    for _ in range(2):  # two passes
        batches = list(batcher(examples))
        assert all(len({get_task(eg) for eg in batch}) == 1 for batch in batches)
        seen = Counter(id(eg) for batch in batches for eg in batch)
        assert set(seen) == {id(eg) for eg in examples}
        assert set(seen.values()) == {1}
        # The tasks are interleaved, not one after the other.
        sequence = [get_task(batch[0]) for batch in batches]
        changes = sum(a != b for a, b in zip(sequence, sequence[1:]))
        assert changes > 2
        # Words-based sizes (spaCy's minibatch_by_words): no batch over size * (1 + tolerance)
        # unless it is a single oversize example.
        assert all(sum(len(eg) for eg in b) <= 240 or len(b) == 1 for b in batches)


def test_batcher_keeps_order_within_task_and_is_seeded(nlp):
    examples = stream(nlp, 20, 40)
    first = [
        [eg.reference[0].text for eg in b] for b in configure_batch_by_task(10, seed=5)(examples)
    ]
    again = [
        [eg.reference[0].text for eg in b] for b in configure_batch_by_task(10, seed=5)(examples)
    ]
    other = [
        [eg.reference[0].text for eg in b] for b in configure_batch_by_task(10, seed=6)(examples)
    ]
    assert first == again
    assert first != other
    # size 10 words, 5 tokens per example, tolerance 0.2: two examples per batch.
    assert {len(b) for b in first} == {2}
    target_words = [w for b in first for w in b if w.startswith("target")]
    assert target_words == [f"target{i}" for i in range(20)]


def test_batcher_target_proportion(nlp):
    examples = stream(nlp, 30, 300)
    batcher = configure_batch_by_task(size=5, target_proportion=0.25, seed=0)
    tasks = []
    for _ in range(3):
        batches = list(batcher(examples))
        assert all(len({get_task(eg) for eg in batch}) == 1 for batch in batches)
        # Every example at least once per pass; the pass ends with the last unseen task.
        assert {id(eg) for b in batches for eg in b} == {id(eg) for eg in examples}
        tasks.extend(get_task(b[0]) for b in batches)
    # 300 source batches per pass at a share of 0.75: about 400 batches per pass.
    assert len(tasks) > 1000
    share = tasks.count(TARGET) / len(tasks)
    assert abs(share - 0.25) < 0.03, share


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 2])
def test_batcher_rejects_bad_proportion(p):
    with pytest.raises(ValueError, match="target_proportion"):
        configure_batch_by_task(size=10, target_proportion=p)


def test_batcher_schedule_per_task(nlp):
    """A compounding size (a one-shot generator) starts from its beginning for every task."""
    examples = stream(nlp, 40, 40, length=1)
    batcher = configure_batch_by_task(size=compounding(2.0, 100.0, 2.0), tolerance=0.0, seed=0)
    sizes = {TARGET: [], "source": []}
    for batch in batcher(examples):
        sizes[get_task(batch[0])].append(len(batch))
    assert sizes[TARGET] == [2, 4, 8, 16, 10]
    assert sizes["source"] == [2, 4, 8, 16, 10]


# ---------------------------------------------------------------- config


CONFIG = """
[paths]
target = null
source = null

[nlp]
lang = "en"
pipeline = []

[corpora]

[corpora.train]
@readers = "spacy_dtn.TransferCorpus.v1"
target = ${paths.target}
source = ${paths.source}
target_fraction = 0.2
seed = 4
max_length = 0

[training]

[training.batcher]
@batchers = "spacy_dtn.batch_by_task.v1"
tolerance = 0.2
discard_oversize = false
target_proportion = 0.5
seed = 0

[training.batcher.size]
@schedules = "compounding.v1"
start = 100
stop = 1000
compound = 1.001
"""


def test_registered_in_a_training_config(corpora, tmp_path):
    root, target, source = corpora
    cfg_path = tmp_path / "dtn.cfg"
    cfg_path.write_text(CONFIG, encoding="utf8")
    config = spacy.util.load_config(
        cfg_path,
        overrides={
            "paths.target": str(root / "target.spacy"),
            "paths.source": str(root / "source.spacy"),
        },
        interpolate=True,
    )
    registry = spacy.util.registry
    # Found through the entry points of setup.cfg: training.py registers nothing itself.
    assert registry.readers.get("spacy_dtn.TransferCorpus.v1").__module__ == "spacy_dtn.training"
    assert registry.batchers.get("spacy_dtn.batch_by_task.v1").__module__ == "spacy_dtn.training"
    corpora_ = registry.resolve(config["corpora"])
    batcher = registry.resolve({"batcher": config["training"]["batcher"]})["batcher"]
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = list(corpora_["train"](nlp))
    assert Counter(get_task(eg) for eg in examples) == {
        "target": round(0.2 * len(target)), "source": len(source)
    }
    batches = list(batcher(examples))
    assert all(len({get_task(eg) for eg in b}) == 1 for b in batches)
    assert {id(eg) for b in batches for eg in b} == {id(eg) for eg in examples}
    # A config without a source trains the target alone (the baseline).
    config = spacy.util.load_config(
        cfg_path, overrides={"paths.target": str(root / "target.spacy")}, interpolate=True
    )
    reader = registry.resolve(config["corpora"])["train"]
    assert {get_task(eg) for eg in reader(nlp)} == {"target"}


def test_pooled_reader_maps_labels_drops_the_rest_and_marks_everything_target(nlp, tmp_path):
    from spacy_dtn.training import create_pooled_corpus

    target = read_iob(DATA / "bc5cdr" / "train.tsv", 400)
    pc = read_iob(DATA / "bionlp13pc" / "train.tsv", 3000)
    write_docbin(tmp_path / "target.spacy", target)
    pc_docs = write_docbin(tmp_path / "pc.spacy", pc)
    reader = create_pooled_corpus(tmp_path / "target.spacy", tmp_path / "pc.spacy",
                                  source_name="pc", label_map={"Simple_chemical": "Chemical"})
    examples = list(reader(nlp))
    assert {get_task(eg) for eg in examples} == {TARGET}
    pooled = examples[len(target):]
    assert len(pooled) == len(pc_docs)
    for eg, doc in zip(pooled, pc_docs):
        expected = [(e.start, e.end, "Chemical") for e in doc.ents
                    if e.label_ == "Simple_chemical"]
        assert [(e.start, e.end, e.label_) for e in eg.reference.ents] == expected
        # the dropped entities' tokens read as O, not as missing
        assert all(token.ent_iob_ in ("B", "I", "O") for token in eg.reference)
    n_chemicals = sum(len(eg.reference.ents) for eg in pooled)
    assert n_chemicals == sum(1 for doc in pc_docs for e in doc.ents
                              if e.label_ == "Simple_chemical") > 0
    # a table per source names its task; "name" keeps no pc label (none is BC5CDR's)
    per_source = create_pooled_corpus(tmp_path / "target.spacy", tmp_path / "pc.spacy",
                                      source_name="pc",
                                      label_map={"pc": {"Simple_chemical": "Chemical"}})
    assert sum(len(eg.reference.ents) for eg in list(per_source(nlp))[len(target):]) \
        == n_chemicals
    by_name = create_pooled_corpus(tmp_path / "target.spacy", tmp_path / "pc.spacy")
    assert sum(len(eg.reference.ents) for eg in list(by_name(nlp))[len(target):]) == 0


def test_a_reader_without_a_target_path_fails_only_when_read(nlp):
    from spacy_dtn.training import create_pooled_corpus

    for make in (create_transfer_corpus, create_pooled_corpus):
        reader = make(None)  # spaCy's tools resolve readers without reading them
        with pytest.raises(ValueError, match=r"set \[paths\] target"):
            list(reader(nlp))
