"""``python -m spacy_dtn benchmark`` end to end on a tiny slice of BC5CDR test.

Speed is never asserted (it depends on the machine and its load); what is checked is that the
command runs, writes every figure it promises, and that the ratio is computed from its own
numbers.
"""
import json

import pytest
import typer
from typer.testing import CliRunner

from dtn_helpers import corpus_path
from spacy_dtn.tools.benchmark.data import DTN, NER
from spacy_dtn.tools.benchmark.measure import alternate
from spacy_dtn.cli.benchmark import benchmark_cli

# The command alone (as ``python -m spacy_dtn benchmark`` registers it), so that this test
# does not depend on the other commands of the app.
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("benchmark")(benchmark_cli)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchmark")
    output = folder / "bench.json"
    args = [
        "--data", str(corpus_path("bc5cdr", "test.tsv")),
        "--source", str(corpus_path("ncbi-disease", "train.tsv")),
        "--n-docs", "20", "--n-source", "20", "--repeats", "1",
        "--batch-sizes", "1,8", "--threads", "", "--scan-repeats", "1",
        "--train-steps", "2", "--train-batch-size", "4", "--num-threads", "1",
        "--output", str(output), "--markdown", str(folder / "bench.md"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(output.read_text()), result.output, (folder / "bench.md").read_text()


def _positive_summary(summary):
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert summary["min"] > 0
    assert all(value > 0 for value in summary["runs"])


def test_keys_and_metadata(report):
    data = report[0]
    assert set(data) >= {"meta", "settings", "systems", "cpu", "gpu", "parameters"}
    assert data["complete"] is True
    for key in ("torch", "spacy", "cpu", "torch_threads", "load_average_start",
                "load_average_end", "git_commit"):
        assert key in data["meta"]
    settings = data["settings"]
    assert settings["n_docs"] == 20 and settings["n_words"] > 20
    assert settings["vectors"] is None
    assert data["systems"][DTN]["sharing"] == "dtn"
    assert sorted(data["systems"][DTN]["tasks"]) == ["source", "target"]
    assert data["systems"][NER]["pipeline"] == ["tok2vec", "ner"]
    assert data["gpu"] is None
    assert data["settings"]["num_threads"] == 1 and data["meta"]["torch_threads"] == 1


def test_inference_and_ratio(report):
    data, output, markdown = report
    inference = data["cpu"]["inference"]
    for name in (DTN, NER):
        _positive_summary(inference[name])
        assert len(inference[name]["runs"]) == 1
    assert inference["ratio"] == pytest.approx(
        inference[DTN]["median"] / inference[NER]["median"])
    assert "ratio" in output and "words/s" in output
    # The Markdown for BENCHMARKS.md carries the same figures.
    assert f"| {DTN} | {inference[DTN]['median']:,.0f} |" in markdown
    assert f"{inference['ratio']:.2f}" in markdown


def test_scans_training_memory(report):
    cpu = report[0]["cpu"]
    assert cpu["threads"] == {}
    assert set(cpu["batch_size"]) == {"1", "8"}
    for point in cpu["batch_size"].values():
        _positive_summary(point[DTN])
        _positive_summary(point[NER])
        assert point["ratio"] == pytest.approx(point[DTN]["median"] / point[NER]["median"])
    training = cpu["training"]
    _positive_summary(training[DTN])
    _positive_summary(training[NER])
    assert training["ratio"] == pytest.approx(training[DTN]["median"] / training[NER]["median"])
    for name in (DTN, NER):
        memory = cpu["memory"][name]
        assert memory["python_peak_mib"] > 0
        assert memory["rss_peak_mib"] > 0 and memory["rss_peak_delta_mib"] >= 0


def test_parameters_drop_source(report):
    params = report[0]["parameters"]
    before, after = params[DTN]["before_drop"], params[DTN]["after_drop"]
    assert 0 < after["network"] < before["network"]
    assert params[DTN]["dropped"] == before["total"] - after["total"] > 0
    assert params[NER]["total"] > 0


def test_alternate_abba_order():
    calls = []
    result = alternate([DTN, NER], 4, lambda name: calls.append(name) or float(len(calls)))
    assert calls == [DTN, NER, NER, DTN, DTN, NER, NER, DTN]
    assert result[DTN]["runs"] == [1.0, 4.0, 5.0, 8.0]
    assert result["ratio"] == result[DTN]["median"] / result[NER]["median"]


def test_threads_restores_torch_threads():
    torch = pytest.importorskip("torch")
    from spacy_dtn.tools.benchmark.measure import threads

    with threads(1):
        with threads(2):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1  # not the inner setting, nor OpenMP's
