"""scripts/gpu_check.py run as a user would, on the CPU (``--gpu-id -1``) with a tiny budget on
real slices of BC5CDR and NCBI-disease: both models train, the reload predicts the same
entities, the words counted are the slice's, and a changed prediction is caught."""
import importlib.util
import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

from spacy.tokens import DocBin

from spacy_dtn.convert.iob import convert_iob

from dtn_helpers import corpus_path

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


def _docbin(corpus: str, split: str, n: int, path: Path) -> Path:
    docs, _ = convert_iob(corpus_path(corpus, f"{split}.tsv"))
    DocBin(docs=list(islice(docs, n))).to_disk(path)
    return path


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_on_the_cpu(tmp_path):
    target = _docbin("bc5cdr", "train", 120, tmp_path / "target.spacy")
    source = _docbin("ncbi-disease", "train", 60, tmp_path / "source.spacy")
    dev = _docbin("bc5cdr", "devel", 20, tmp_path / "dev.spacy")
    test = _docbin("bc5cdr", "test", 25, tmp_path / "test.spacy")
    words = sum(len(doc) for doc in DocBin().from_disk(test).get_docs(
        __import__("spacy").blank("en").vocab))
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--target", str(target), "--source", str(source),
         "--dev", str(dev), "--test", str(test), "--output-dir", str(out), "--gpu-id", "-1",
         "--steps", "80", "--eval-frequency", "40", "--dev-limit", "20", "--fraction", "1.0",
         "--n-test", "25", "--repeats", "1"],
        capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr + (out / "gpu_check.log").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["identical"] and report["differing"] == []
    assert report["n_entities"] > 0  # the same entities, not the same empty predictions
    assert report["n_docs"] == 25 and report["n_words"] == words
    assert report["device"] == "CPU" and report["steps"] == 80
    assert report["words_per_second"]["dtn"] > 0 and report["words_per_second"]["ner"] > 0
    assert report["ratio"] == report["words_per_second"]["dtn"] / report["words_per_second"]["ner"]
    assert (out / "dtn" / "model-last").is_dir() and (out / "ner" / "model-last").is_dir()
    assert "identical entities" in (out / "report.md").read_text()
    # a prediction that differs in one sentence is caught, by index
    module = _load_script()
    a = json.loads((out / "predict-dtn.json").read_text())
    b = dict(a, ents=[list(e) for e in a["ents"]])
    b["ents"][3] = b["ents"][3] + [[0, 1, "Chemical"]]
    assert module.differing_docs(a, a) == [] and module.differing_docs(a, b) == [3]
