"""spacy_dtn.ConsoleLogger.v1: spaCy's table with per-task loss columns, v3's options kept."""
import io

import pytest
import spacy
import srsly
from spacy.training import Example

from spacy_dtn.loggers import console_logger


def _nlp():
    """A pipeline whose dtn_ner knows two tasks (what initialize learns from the corpus)."""
    nlp = spacy.blank("en")
    labels = {"target": ["Chemical"], "source": ["Disease"]}
    example = Example.from_dict(nlp.make_doc("Aspirin"), {})
    nlp.add_pipe("dtn_ner").initialize(lambda: [example], labels=labels)
    return nlp


INFO = {"epoch": 0, "step": 10, "losses": {"dtn_ner": 3.0, "dtn_ner:target": 2.0,
                                           "dtn_ner:source": 1.0},
        "other_scores": {"ents_f": 0.5, "ents_p": 0.25, "ents_r": 1.0}, "score": 0.5}


def test_rows_and_log_lines_hold_every_tasks_loss(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    log_step, finalize = console_logger(output_file=tmp_path / "log.jsonl")(_nlp(), out, err)
    log_step(INFO)
    finalize()
    line = out.getvalue().splitlines()[-1].split()
    assert line[:5] == ["0", "10", "3.00", "2.00", "1.00"]  # total, target, source
    assert "50.00" in line
    (record,) = srsly.read_jsonl(tmp_path / "log.jsonl")
    assert record["losses"] == INFO["losses"] and record["scores"]["ents_f"] == 50.0


def test_an_existing_log_file_is_not_overwritten(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("earlier run\n", encoding="utf8")
    out = io.StringIO()
    log_step, finalize = console_logger(output_file=path)(_nlp(), out, io.StringIO())
    log_step(INFO)
    finalize()
    assert path.read_text(encoding="utf8") == "earlier run\n"
    assert "Saving logs is disabled because" in out.getvalue()


@pytest.mark.parametrize("mode,total", [("eval", 200), (True, 200), ("train", 20000)])
def test_progress_bar_modes_as_spacys_v3(mode, total, monkeypatch):
    import tqdm

    made = []

    class Bar:
        def __init__(self, total, initial=0, **kwargs):
            made.append((total, initial))

        def set_description(self, text):
            pass

        def update(self, n):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    nlp = _nlp()
    nlp.config["training"]["max_steps"] = 20000
    nlp.config["training"]["eval_frequency"] = 200
    log_step, finalize = console_logger(progress_bar=mode)(nlp, io.StringIO(), io.StringIO())
    log_step(INFO)
    log_step(None)
    finalize()
    assert made == [(total, 10 if mode == "train" else 0)]


def test_an_unknown_progress_bar_is_an_error():
    with pytest.raises(ValueError, match="progress_bar must be one of train, eval"):
        console_logger(progress_bar="steps")
