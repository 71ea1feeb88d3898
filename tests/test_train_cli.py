"""`spacy train` with configs/dtn.cfg on real slices of BC5CDR (target) and NCBI-disease
(source), the result added to a pretrained spaCy pipeline, and dtn_ner behind a listener."""
import math
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from thinc.api import Config, fix_random_seed

from spacy_dtn.convert.iob import convert_iob

from dtn_helpers import corpus_path, read_examples, small_english_pipeline_name, train_steps

ROOT = Path(__file__).parents[1]
MAX_STEPS = 30
EVAL_FREQUENCY = 10


def _docbin(corpus: str, split: str, n: int, path: Path) -> Path:
    """The first ``n`` sentences of a real IOB table, converted by the project's converter."""
    docs, _ = convert_iob(corpus_path(corpus, f"{split}.tsv"))
    DocBin(docs=list(islice(docs, n)), store_user_data=True).to_disk(path)
    return path


def _probe_config(tmp: Path) -> Path:
    """configs/dtn.cfg with its batcher wrapped by a recorder (tests/train_probe.py)."""
    config = Config().from_disk(ROOT / "configs" / "dtn.cfg", interpolate=False)
    batcher = dict(config["training"]["batcher"])
    config["training"]["batcher"] = {
        "@batchers": "dtn_test.recording_batcher.v1",
        "path": str(tmp / "batches.jsonl"),
        "batcher": batcher,
    }
    path = tmp / "dtn_probe.cfg"
    config.to_disk(path)
    return path


@pytest.fixture(scope="module")
def spacy_train(tmp_path_factory):
    """One `spacy train` run: 30 steps on 150 target and 150 source sentences, no vectors."""
    tmp = tmp_path_factory.mktemp("train_cli")
    target = _docbin("bc5cdr", "train", 150, tmp / "target.spacy")
    source = _docbin("ncbi-disease", "train", 150, tmp / "source.spacy")
    dev = _docbin("bc5cdr", "devel", 30, tmp / "dev.spacy")
    cmd = [
        sys.executable, "-m", "spacy", "train", str(_probe_config(tmp)),
        "--code", str(ROOT / "tests" / "train_probe.py"),
        "--output", str(tmp / "out"),
        "--paths.target", str(target), "--paths.source", str(source), "--paths.dev", str(dev),
        "--training.max_steps", str(MAX_STEPS),
        "--training.eval_frequency", str(EVAL_FREQUENCY),
        "--training.batcher.batcher.size", "200",
        "--training.optimizer.learn_rate", "0.01",
        "--training.logger.output_file", str(tmp / "log.jsonl"),
    ]
    # One torch thread: on a small shared machine intra-op threads oversubscribe the cores.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {
        "dir": tmp,
        "stdout": result.stdout,
        "log": list(srsly.read_jsonl(tmp / "log.jsonl")),
        "batches": list(srsly.read_jsonl(tmp / "batches.jsonl")),
        "model_best": tmp / "out" / "model-best",
    }


def test_the_probe_config_is_configs_dtn_cfg_but_for_the_batcher_wrapper(tmp_path):
    original = Config().from_disk(ROOT / "configs" / "dtn.cfg", interpolate=False)
    probe = Config().from_disk(_probe_config(tmp_path), interpolate=False)
    assert probe["training"]["batcher"]["batcher"] == original["training"]["batcher"]
    del probe["training"]["batcher"], original["training"]["batcher"]
    assert probe == original


def test_every_batch_holds_one_task_and_both_tasks_are_batched(spacy_train):
    batches = spacy_train["batches"]
    assert len(batches) >= MAX_STEPS
    assert all(len(b["tasks"]) == 1 for b in batches), batches
    tasks = [b["tasks"][0] for b in batches[: MAX_STEPS + 1]]
    assert {"target", "source"} == set(tasks)
    # configs/dtn.cfg: target_proportion 0.5
    assert 0.25 < tasks.count("target") / len(tasks) < 0.75, tasks


def test_each_tasks_loss_is_reported_and_moves(spacy_train):
    log = spacy_train["log"]
    assert [entry["step"] for entry in log] == list(range(0, MAX_STEPS + 1, EVAL_FREQUENCY))
    tasks = [b["tasks"][0] for b in spacy_train["batches"]]
    # The losses of each evaluation sum the steps since the previous one: per-batch means.
    means = {"target": [], "source": []}
    for previous, entry in zip(log, log[1:]):
        steps = range(previous["step"] + 1, entry["step"] + 1)
        for task in means:
            n = sum(1 for step in steps if tasks[step] == task)
            loss = entry["losses"].get(f"dtn_ner:{task}", 0.0)
            assert (loss > 0) == (n > 0), (task, entry)
            if n:
                assert math.isfinite(loss)
                means[task].append(loss / n)
        total = sum(entry["losses"][f"dtn_ner:{task}"] for task in means
                    if f"dtn_ner:{task}" in entry["losses"])
        assert entry["losses"]["dtn_ner"] == pytest.approx(total)
    for task, values in means.items():
        assert len(values) >= 2, (task, values)
        assert values[-1] < values[0], (task, values)
    # The console table shows a loss column per task.
    header = next(line for line in spacy_train["stdout"].splitlines() if "LOSS" in line)
    assert "LOSS TARGET" in header and "LOSS SOURCE" in header


def test_model_best_loads_and_predicts_target_labels(spacy_train):
    nlp = spacy.load(spacy_train["model_best"])
    ner = nlp.get_pipe("dtn_ner")
    assert ner.label_data == {"target": ["Chemical", "Disease"], "source": ["Disease"]}
    meta = srsly.read_json(spacy_train["model_best"] / "meta.json")
    assert "ents_f" in meta["performance"]
    texts = [eg.reference.text for eg in read_examples(nlp, "bc5cdr", "train", 40)]
    docs = list(nlp.pipe(texts))
    labels = {ent.label_ for doc in docs for ent in doc.ents}
    assert labels and labels <= {"Chemical", "Disease"}


def test_added_to_a_pretrained_pipeline_beside_its_ner(spacy_train, tmp_path):
    small = small_english_pipeline_name()
    texts = [eg.reference.text for eg in read_examples(spacy.blank("en"), "bc5cdr", "train", 40)]
    texts.append("Aspirin was given to Dr. Smith in London on Monday for his migraine.")
    plain = spacy.load(small)
    expected_ents = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in plain.pipe(texts)]

    # The trained pipeline, loaded with spans_key set, is the source of the component.
    trained = spacy.load(
        spacy_train["model_best"], config={"components": {"dtn_ner": {"spans_key": "dtn"}}}
    )
    nlp = spacy.load(small)
    nlp.add_pipe("dtn_ner", source=trained, after="ner")
    assert nlp.pipe_names[-1] == "dtn_ner"
    assert nlp.config["components"]["dtn_ner"]["spans_key"] == "dtn"

    def outputs(pipeline):
        docs = list(pipeline.pipe(texts))
        ents = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
        spans = [[(s.start, s.end, s.label_) for s in doc.spans["dtn"]] for doc in docs]
        return ents, spans

    ents, spans = outputs(nlp)
    assert ents == expected_ents  # en_core_web_sm's entities are untouched
    assert any(spans)
    assert {label for doc in spans for _, _, label in doc} <= {"Chemical", "Disease"}
    assert any(e for e in ents)  # and the pretrained ner still finds its own

    nlp.to_disk(tmp_path / "combined")
    reloaded = spacy.load(tmp_path / "combined")
    assert reloaded.pipe_names == nlp.pipe_names
    assert outputs(reloaded) == (ents, spans)


def _params(model):
    return [node.get_param(name) for node in model.walk() for name in node.param_names
            if node.has_param(name)]


def test_dtn_ner_on_a_shared_tok2vec_through_a_listener(tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")  # spaCy's default: MultiHashEmbed + CNN, width 96
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    nlp.add_pipe("dtn_ner", config={"model": {"tok2vec": listener}})
    target = read_examples(nlp, "bc5cdr", "train", 24)
    source = read_examples(nlp, "ncbi-disease", "train", 24, task="source")
    nlp.initialize(lambda: target + source)
    tok2vec = nlp.get_pipe("tok2vec")
    assert nlp.get_pipe("dtn_ner").model.get_ref("tok2vec").name == "tok2vec-listener"
    before = [param.copy() for param in _params(tok2vec.model)]
    history = train_steps(nlp, target, source, steps=9, batch_size=8)
    assert all("dtn_ner" in h and "tok2vec" in h for h in history)
    after = _params(tok2vec.model)
    # dtn_ner's gradients reach the shared tok2vec through the listener.
    assert any(not (a == b).all() for a, b in zip(after, before))

    texts = [eg.reference.text for eg in target[:8]]
    docs = list(nlp.pipe(texts))
    predicted = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
    assert all(label in {"Chemical", "Disease"} for doc in predicted for *_, label in doc)
    nlp.to_disk(tmp_path / "listener")
    reloaded = spacy.load(tmp_path / "listener")
    assert reloaded.config["components"]["dtn_ner"]["model"]["tok2vec"]["@architectures"] == (
        "spacy.Tok2VecListener.v1"
    )
    again = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in reloaded.pipe(texts)]
    assert again == predicted
