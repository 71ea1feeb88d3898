"""``spacy_dtn.tools.evaluate``: seqeval strict IOBES scores, spaCy's scores, and the command."""
import json
import subprocess
import sys

import click
import pytest
import spacy
import typer
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from spacy_dtn.cli.evaluate import evaluate_cli
from spacy_dtn.tools.evaluate import evaluate_docs, to_iobes

from dtn_helpers import DATA, corpus_path, read_iob
runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()
    app.command("evaluate")(evaluate_cli)

    @app.command("noop")  # two commands, so "evaluate" is named as in python -m spacy_dtn
    def noop() -> None:
        pass

    return app


def doc_with(vocab, words, spans, key=None) -> Doc:
    doc = Doc(vocab, words=words)
    spans = [Span(doc, start, end, label=label) for start, end, label in spans]
    if key is None:
        doc.ents = spans
    else:
        doc.spans[key] = spans
    return doc


# ---------------------------------------------------------------- scoring, by hand

WORDS = [["a", "b", "c", "d", "e", "f"], ["g", "h", "i", "j", "k"]]
GOLD = [[(0, 1, "Chemical"), (3, 5, "Disease")], [(1, 2, "Disease")]]
PRED = [[(0, 1, "Chemical"), (3, 4, "Disease")], [(1, 2, "Disease"), (4, 5, "Chemical")]]


def hand_docs(key=None):
    vocab = spacy.blank("en").vocab
    gold = [doc_with(vocab, w, s) for w, s in zip(WORDS, GOLD)]
    pred = [doc_with(vocab, w, s, key) for w, s in zip(WORDS, PRED)]
    return pred, gold


def test_to_iobes():
    vocab = spacy.blank("en").vocab
    doc = doc_with(vocab, WORDS[0], [(0, 1, "Chemical"), (2, 5, "Disease")])
    assert to_iobes(doc) == ["S-Chemical", "O", "B-Disease", "I-Disease", "E-Disease", "O"]


@pytest.mark.parametrize("key", [None, "dtn"])
def test_evaluate_docs_hand_computed(key):
    # TP: Chemical(0,1) in doc 0, Disease(1,2) in doc 1. FP: Disease(3,4) (wrong boundary),
    # Chemical(4,5). FN: Disease(3,5). So P = 2/4, R = 2/3, F = 4/7.
    scores = evaluate_docs(*hand_docs(key), spans_key=key)
    micro = scores["micro"]
    assert micro["precision"] == pytest.approx(0.5)
    assert micro["recall"] == pytest.approx(2 / 3)
    assert micro["f1"] == pytest.approx(4 / 7)
    assert micro["support"] == 3
    chem, dis = scores["per_type"]["Chemical"], scores["per_type"]["Disease"]
    assert (chem["precision"], chem["recall"], chem["support"]) == (0.5, 1.0, 1)
    assert chem["f1"] == pytest.approx(2 / 3)
    assert (dis["precision"], dis["recall"], dis["f1"], dis["support"]) == (0.5, 0.5, 0.5, 2)
    assert scores["macro"]["f1"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert scores["ents_f"] == pytest.approx(4 / 7)
    assert scores["ents_per_type"]["Disease"]["r"] == pytest.approx(0.5)
    assert (scores["n_gold_entities"], scores["n_pred_entities"]) == (3, 4)
    # tokens: gold S-Chemical a, B-Disease d, E-Disease e, S-Disease h (4);
    # predicted S-Chemical a, S-Disease d, S-Disease h, S-Chemical k (4).
    # By tag a and h are right: P = R = 2/4; by type a, d and h: P = R = 3/4.
    token = scores["token"]
    assert (token["tag"]["precision"], token["tag"]["recall"], token["tag"]["f1"]) == \
        (0.5, 0.5, 0.5)
    assert (token["type"]["precision"], token["type"]["recall"]) == (0.75, 0.75)
    assert token["type"]["f1"] == pytest.approx(0.75) and token["type"]["support"] == 4


def test_evaluate_docs_rejects_what_it_cannot_score():
    vocab = spacy.blank("en").vocab
    gold = [doc_with(vocab, ["a", "b", "c"], [(0, 2, "X")])]
    overlapping = Doc(vocab, words=["a", "b", "c"])
    overlapping.spans["sc"] = [Span(overlapping, 0, 2, "X"), Span(overlapping, 1, 3, "Y")]
    with pytest.raises(ValueError, match="overlap"):
        evaluate_docs([overlapping], gold, spans_key="sc")
    with pytest.raises(ValueError, match="no spans under the key"):
        evaluate_docs([Doc(vocab, words=["a", "b", "c"])], gold, spans_key="sc")
    with pytest.raises(ValueError, match="tokens differ"):
        evaluate_docs([Doc(vocab, words=["a", "b", "d"])], gold)
    empty = evaluate_docs([Doc(vocab, words=["a"])], [Doc(vocab, words=["a"])])
    assert empty["micro"]["f1"] == 0.0 and empty["per_type"] == {}


# ---------------------------------------------------------------- a real pipeline on real data


def entity_patterns(sents):
    """Token patterns for the gold entities of some sentences (a ruler that knows a lexicon)."""
    patterns, vocab = {}, spacy.blank("en").vocab
    for words, tags in sents:
        doc = Doc(vocab, words=words, ents=tags)
        for ent in doc.ents:
            patterns[(ent.label_, ent.text)] = [{"ORTH": t.text} for t in ent]
    return [{"label": label, "pattern": p} for (label, _), p in sorted(patterns.items())]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    corpus_path("bc5cdr", "train.tsv")  # skips the test where the corpora are absent
    root = tmp_path_factory.mktemp("evaluate")
    patterns = entity_patterns(read_iob(DATA / "bc5cdr" / "train.tsv", 20000))
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.to_disk(root / "ruler")
    nlp = spacy.blank("en")
    # Longest match first, as the entity_ruler resolves overlaps: the same entities.
    longest = {"@misc": "spacy.first_longest_spans_filter.v1"}
    nlp.add_pipe("span_ruler", config={"spans_key": "dtn", "spans_filter": longest}).add_patterns(
        patterns
    )
    nlp.to_disk(root / "span_ruler")
    gold = read_iob(DATA / "bc5cdr" / "test.tsv", 3000)
    vocab = spacy.blank("en").vocab
    DocBin(docs=[Doc(vocab, words=w, ents=t) for w, t in gold]).to_disk(root / "test.spacy")
    n_entities = sum(t.startswith("B-") for _, tags in gold for t in tags)
    return root, len(gold), n_entities


def test_cli_seqeval_micro_f1_equals_spacy_ents_f(real):
    root, n_docs, n_entities = real
    out = root / "scores" / "ruler.json"
    result = runner.invoke(
        make_app(),
        ["evaluate", str(root / "ruler"), str(root / "test.spacy"), "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text(encoding="utf8"))
    micro = scores["micro"]
    assert (scores["n_docs"], micro["support"]) == (n_docs, n_entities)
    # Imperfect predictions: true positives, false positives and false negatives.
    assert 0.2 < micro["precision"] < 1.0 and 0.2 < micro["recall"] < 1.0
    assert micro["f1"] == pytest.approx(scores["ents_f"], abs=1e-9)
    assert micro["precision"] == pytest.approx(scores["ents_p"], abs=1e-9)
    for label, s in scores["per_type"].items():
        assert s["f1"] == pytest.approx(scores["ents_per_type"][label]["f"], abs=1e-9)
    assert set(scores["per_type"]) == {"Chemical", "Disease"}
    assert "micro avg" in result.output and "ents_f" in result.output

    # The same predictions written to doc.spans["dtn"] by a span_ruler score the same.
    out2 = root / "scores" / "span_ruler.json"
    result = runner.invoke(make_app(), [
        "evaluate", str(root / "span_ruler"), str(root / "test.spacy"),
        "--spans-key", "dtn", "--batch-size", "16", "-o", str(out2),
    ])
    assert result.exit_code == 0, result.output
    spans_scores = json.loads(out2.read_text(encoding="utf8"))
    assert spans_scores["micro"] == scores["micro"]
    assert spans_scores["spans_key"] == "dtn"


def test_json_has_spacy_evaluates_keys_and_values(real):
    """The top-level ents_* equal what ``spacy evaluate --output`` writes for the same model
    and data; speed is there too (words per second)."""
    root = real[0]
    ours, theirs = root / "scores" / "ours.json", root / "scores" / "spacy.json"
    result = runner.invoke(make_app(), ["evaluate", str(root / "ruler"), str(root / "test.spacy"),
                                        "-o", str(ours)])
    assert result.exit_code == 0, result.output
    done = subprocess.run([sys.executable, "-m", "spacy", "evaluate", str(root / "ruler"),
                           str(root / "test.spacy"), "--output", str(theirs)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours, theirs = (json.loads(p.read_text(encoding="utf8")) for p in (ours, theirs))
    for key in ("ents_p", "ents_r", "ents_f"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12)
    assert set(ours["ents_per_type"]) == set(theirs["ents_per_type"]) == {"Chemical", "Disease"}
    for label, prf in theirs["ents_per_type"].items():
        assert ours["ents_per_type"][label] == pytest.approx(prf, abs=1e-9)
    assert ours["speed"] > 0 and "macro" in ours and "support" in ours["micro"]


def test_cli_errors_are_one_line(real, tmp_path):
    root, _, _ = real
    not_a_pipeline = tmp_path / "empty_dir"
    not_a_pipeline.mkdir()
    cases = [
        ([str(tmp_path / "no_model"), str(root / "test.spacy")], "Model not found"),
        ([str(not_a_pipeline), str(root / "test.spacy")], "Can't load the pipeline"),
        ([str(root / "ruler"), str(tmp_path / "none.spacy")], "Data not found"),
        ([str(root / "ruler"), str(DATA / "bc5cdr" / "test.tsv")], "as a DocBin"),
        ([str(root / "ruler"), str(root / "test.spacy"), "--spans-key", "nope"], "nope"),
    ]
    for args, message in cases:
        result = runner.invoke(make_app(), ["evaluate", *args])
        assert result.exit_code == 1, (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        assert message in " ".join(result.output.split())  # wasabi wraps at 80 columns
        assert "Traceback" not in result.output


def test_module_command(real):
    """``python -m spacy_dtn evaluate`` is this function (once the whole CLI imports)."""
    main = pytest.importorskip("spacy_dtn.__main__", exc_type=ImportError)
    root, _, _ = real
    result = runner.invoke(main.app, ["evaluate", str(root / "ruler"), str(root / "test.spacy")])
    assert result.exit_code == 0, result.output
    assert "micro avg" in result.output


# ---------------------------------------------------------------- nothing to score


@pytest.fixture
def blank(tmp_path):
    """A pipeline with no component at all, and a DocBin of two docs without entities."""
    spacy.blank("en").to_disk(tmp_path / "blank")
    vocab = spacy.blank("en").vocab
    DocBin(docs=[Doc(vocab, words=w) for w in WORDS]).to_disk(tmp_path / "no_ents.spacy")
    DocBin().to_disk(tmp_path / "empty.spacy")
    return tmp_path


def plain(result) -> str:
    return " ".join(click.unstyle(result.output).split())


def test_cli_no_entities_anywhere_prints_na_and_warns(blank):
    """No gold and no predicted entities: spaCy's scores are undefined (None), not a crash."""
    out = blank / "scores.json"
    result = runner.invoke(make_app(), ["evaluate", str(blank / "blank"),
                                        str(blank / "no_ents.spacy"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "ents_f n/a" in plain(result) and "Traceback" not in result.output
    assert "has no dtn_ner or ner component (pipeline: empty)" in plain(result)
    assert "no_ents.spacy has no gold entities" in plain(result)
    assert json.loads(out.read_text(encoding="utf8"))["ents_f"] is None


def test_cli_warns_when_the_gold_has_no_entities(real, tmp_path):
    """A working NER model on gold without entities: every prediction a false positive, P 0,
    exit 0, and one warning that says why the scores mean nothing."""
    root, _, _ = real
    vocab = spacy.blank("en").vocab
    words = [words for words, _ in read_iob(DATA / "bc5cdr" / "test.tsv", 3000)]
    DocBin(docs=[Doc(vocab, words=w) for w in words]).to_disk(tmp_path / "no_ents.spacy")
    out = tmp_path / "scores.json"
    result = runner.invoke(make_app(), ["evaluate", str(root / "ruler"),
                                        str(tmp_path / "no_ents.spacy"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text(encoding="utf8"))
    assert scores["n_gold_entities"] == 0 and scores["n_pred_entities"] > 0
    assert scores["micro"]["precision"] == 0.0
    assert plain(result).count("\u26a0") == 1
    assert (f"\u26a0 {tmp_path / 'no_ents.spacy'} has no gold entities: the scores say "
            "nothing about the model") in plain(result)


def test_cli_refuses_empty_data_and_bad_batch_size(blank):
    cases = [
        ([str(blank / "empty.spacy")], "holds no docs: nothing to evaluate"),
        ([str(blank / "no_ents.spacy"), "--batch-size", "-1"], "--batch-size must be at least 1"),
    ]
    for args, message in cases:
        result = runner.invoke(make_app(), ["evaluate", str(blank / "blank"), *args])
        assert result.exit_code == 1, (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        assert message in plain(result) and "Traceback" not in result.output
