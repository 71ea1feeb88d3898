"""Gate statistics (paper Table 4) and the sentence picture (Figure 4).

The averages are checked against a hand computation on hand-set gate values; the command is
run end to end on a DTN trained a few steps on 16 real BC5CDR sentences (and NCBI as source).
"""
import json
import re
import sys

import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin, Span
from thinc.api import fix_random_seed
from typer.testing import CliRunner
import typer

from dtn_helpers import read_examples, small_english_pipeline_name, train_steps
from spacy_dtn.cli.gates import gates_cli
from spacy_dtn.tools.gated import gate_names
from spacy_dtn.tools.gates import (
    format_statistics, gate_statistics, plot_sentence, token_types,
)


def gold_doc():
    doc = Doc(spacy.blank("en").vocab, words=["Aspirin", "causes", "heart", "failure", "."])
    doc.ents = [Span(doc, 0, 1, "Chemical"), Span(doc, 2, 4, "Disease")]
    return doc


GATES = {
    "char_g1": [0.1, 0.2, 0.3, 0.5, 0.9],
    "char_g2": [1.0, 0.0, 0.5, 0.5, 0.0],
    "word_g1": [0.4, 0.4, 0.4, 0.4, 0.4],
    "decoder_g1": [0.0, 1.0, 0.2, 0.6, 0.0],
}


def test_token_types():
    assert token_types(gold_doc()) == ["Chemical", "O", "Disease", "Disease", "O"]


def test_gate_statistics_by_hand():
    doc = gold_doc()
    stats = gate_statistics([GATES, {k: v[:2] for k, v in GATES.items()}],
                            [token_types(doc), token_types(doc)[:2]])
    assert list(stats) == ["Chemical", "Disease", "O", "Overall"]
    # Chemical: token 0 of both docs → char_g1 (0.1 + 0.1) / 2.
    assert stats["Chemical"]["n_tokens"] == 2
    assert stats["Chemical"]["char_g1"] == pytest.approx(0.1)
    # Disease: tokens 2, 3 of doc 1 → char_g1 (0.3 + 0.5) / 2, decoder (0.2 + 0.6) / 2.
    assert stats["Disease"]["char_g1"] == pytest.approx(0.4)
    assert stats["Disease"]["decoder_g1"] == pytest.approx(0.4)
    # O: tokens 1, 4 of doc 1 and token 1 of doc 2 → char_g1 (0.2 + 0.9 + 0.2) / 3.
    assert stats["O"]["n_tokens"] == 3
    assert stats["O"]["char_g1"] == pytest.approx(1.3 / 3)
    assert stats["O"]["char_g2"] == pytest.approx(0.0)
    # Overall: all 7 tokens.
    assert stats["Overall"]["n_tokens"] == 7
    assert stats["Overall"]["char_g1"] == pytest.approx((2.0 + 0.3) / 7)
    assert stats["Overall"]["decoder_g1"] == pytest.approx((1.8 + 1.0) / 7)
    assert "word_g2" not in stats["Overall"]  # absent gates stay absent (dtn_hs)


def test_format_statistics():
    stats = gate_statistics([GATES], [token_types(gold_doc())])
    lines = format_statistics(stats).splitlines()
    assert lines[0] == "| Tokens | n | char g1 | char g2 | word g1 | decoder g1 |"
    assert "| Disease | 2 | 0.40 | 0.50 | 0.40 | 0.40 |" in lines
    assert lines[-1].startswith("| Overall | 5 |")


def test_gate_names_order():
    assert gate_names({"decoder_g1": [], "char_g2": [], "char_g1": []}) == [
        "char_g1", "char_g2", "decoder_g1"]


def test_picture(tmp_path):
    words = ["Aspirin", "<b>&", "heart", "failure", "."]
    gold = ["S-Chemical", "O", "B-Disease", "E-Disease", "O"]
    png = tmp_path / "s.png"
    plot_sentence(png, words, GATES, gold, gold)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 1000


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A DTN and a TTN (IIS) pipeline trained 4 steps on 16 BC5CDR + 16 NCBI sentences, saved."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("gates")
    paths = {}
    for sharing in ("dtn", "IIS"):
        fix_random_seed(0)
        nlp = spacy.blank("en")
        nlp.add_pipe("dtn_ner", config={"model": {"sharing": sharing}})
        target = read_examples(nlp, "bc5cdr", "train", 16)
        source = read_examples(nlp, "ncbi-disease", "train", 16, task="source")
        nlp.initialize(lambda: target + source)
        train_steps(nlp, target, source, steps=4 if sharing == "dtn" else 1)
        nlp.to_disk(root / sharing)
        paths[sharing] = root / sharing
    data = root / "test.spacy"
    DocBin(docs=[eg.reference for eg in target[:8]]).to_disk(data)
    return paths, data


def cli(*args):
    app = typer.Typer()
    app.command()(gates_cli)
    return CliRunner().invoke(app, [str(a) for a in args])


def test_gates_command_on_a_tiny_run(tiny_models, tmp_path):
    paths, data = tiny_models
    out = tmp_path / "out"
    result = cli(paths["dtn"], data, "--output-dir", out, "--sentence", 1)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "gates.json").read_text())
    stats = saved["statistics"]
    assert list(stats)[-2:] == ["O", "Overall"] and "Chemical" in stats
    names = ["char_g1", "char_g2", "word_g1", "word_g2", "decoder_g1", "decoder_g2"]
    assert [n for n in stats["Overall"] if n != "n_tokens"] == names
    assert all(0.0 <= stats[row][n] <= 1.0 for row in stats for n in names)
    # The overall mean is the token-weighted mean of the rows (each token in one row).
    rows = [r for r in stats if r != "Overall"]
    n = sum(stats[r]["n_tokens"] for r in rows)
    assert n == stats["Overall"]["n_tokens"]
    weighted = sum(stats[r]["word_g1"] * stats[r]["n_tokens"] for r in rows) / n
    assert stats["Overall"]["word_g1"] == pytest.approx(weighted)
    sentence = saved["sentence"]
    assert len(sentence["gates"]["char_g1"]) == len(sentence["words"]) == len(sentence["gold"])
    assert "| Overall |" in (out / "gates.md").read_text()
    assert (out / "sentence-1.png").stat().st_size > 1000
    # The page is visualize's (tests/test_visualize.py): this doc, one gate row per gate.
    page = (out / "sentence-1.html").read_text()
    assert 'id="s1"' in page and page.count('<section class="sentence"') == 1
    rows = dict(re.findall(r'data-gate="(\w+)" data-v="([\d ]*)"', page))
    assert list(rows) == names
    assert [round(100 * v) for v in sentence["gates"]["word_g2"]] == [
        int(v) for v in rows["word_g2"].split()]


def test_gates_command_refuses_models_without_gates(tiny_models, tmp_path):
    paths, data = tiny_models
    result = cli(paths["IIS"], data, "--output-dir", tmp_path)
    assert result.exit_code == 1 and "has no gates" in result.output
    assert "Traceback" not in result.output
    result = cli(tmp_path / "missing", data, "--output-dir", tmp_path)
    assert result.exit_code == 1 and "Model not found" in result.output
    result = cli(paths["dtn"], tmp_path / "missing.spacy", "--output-dir", tmp_path)
    assert result.exit_code == 1 and "data not found" in result.output
    result = cli(paths["dtn"], data, "--output-dir", tmp_path, "--sentence", 99)
    assert result.exit_code == 1 and "holds 8 docs" in result.output


def test_gates_takes_an_installed_package_name(tmp_path):
    """evaluate's and annotate's loader: the package loads, then is refused for its lack of a
    dtn_ner (not as a missing directory)."""
    name = small_english_pipeline_name()
    DocBin(docs=[gold_doc()]).to_disk(tmp_path / "gold.spacy")
    result = cli(name, tmp_path / "gold.spacy", "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert f"{name}: no dtn_ner component in the pipeline [" in result.output
    assert "Model not found" not in result.output and "Can't load" not in result.output


def test_gates_without_matplotlib_skips_the_png(tiny_models, tmp_path, monkeypatch):
    """matplotlib is an optional extra: without it the rest is written and the PNG is skipped
    with a warning (a ``None`` entry in ``sys.modules`` makes ``import matplotlib`` fail)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths, data = tiny_models
    out = tmp_path / "out"
    result = cli(paths["dtn"], data, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert "matplotlib is not installed" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["gates.json", "gates.md", "sentence-0.html"]


def test_gates_refuses_data_that_is_not_a_docbin(tiny_models, tmp_path):
    paths, _ = tiny_models
    bad = tmp_path / "bad.spacy"
    bad.write_text("not a DocBin\n")
    result = cli(paths["dtn"], bad, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1 and "not a readable DocBin" in result.output
    assert "Traceback" not in result.output
