"""The grid's table arithmetic (hand-made results), its settings parser and its resumability.

Nothing here trains: the training and scoring functions are replaced by stand-ins that count
their calls, so what is tested is the orchestration and the arithmetic.
"""
import json
import math
from pathlib import Path

import pytest
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_dtn.tools import grid
from spacy_dtn.tools.grid import (
    GridError, best_and_worst, format_table, parse_settings, rank_ttn, run_grid, table_rows,
    ttn_average,
)


def scores(p: float, r: float, f: float) -> dict:
    return {"micro": {"precision": p, "recall": r, "f1": f, "support": 10}}


# F1 of seven TTN codes, chosen so that the hand computation below is easy to follow.
TTN_F1 = {"IIS": 0.80, "HIH": 0.78, "III": 0.76, "HHI": 0.74, "HSS": 0.72, "SSI": 0.70,
          "SSH": 0.68}


@pytest.fixture
def results():
    out = {code: scores(f + 0.01, f - 0.01, f) for code, f in TTN_F1.items()}
    out.update(baseline=scores(0.60, 0.50, 0.55), dtn=scores(0.81, 0.79, 0.80),
               dtn_hs=scores(0.82, 0.80, 0.81), ner=scores(0.70, 0.66, 0.68))
    return out


def test_rank_and_best_worst(results):
    ranked = rank_ttn(results)
    assert [name for name, _ in ranked] == list(TTN_F1)  # only TTN codes, best first
    best, worst = best_and_worst(ranked)
    assert [n for n, _ in best] == ["IIS", "HIH", "III"]
    assert [n for n, _ in worst] == ["HSS", "SSI", "SSH"]  # the worst listed last


def test_best_worst_never_repeat_a_run():
    ranked = [(c, scores(0, 0, f)) for c, f in [("IIS", 0.9), ("HIH", 0.8), ("III", 0.7),
                                                 ("HHI", 0.6)]]
    best, worst = best_and_worst(ranked)
    assert [n for n, _ in best] == ["IIS", "HIH", "III"] and [n for n, _ in worst] == ["HHI"]
    assert best_and_worst(ranked[:2]) == (ranked[:2], [])


def test_rank_ties_broken_by_code():
    ranked = rank_ttn({"SII": scores(0, 0, 0.5), "HII": scores(0, 0, 0.5)})
    assert [n for n, _ in ranked] == ["HII", "SII"]


def test_average_over_ttn_rows_only(results):
    avg = ttn_average(results)
    # By hand: mean of 0.80 .. 0.68 in steps of 0.02 = 0.74; P and R are ±0.01 of F1.
    assert avg["n"] == 7
    assert avg["f1"] == pytest.approx(0.74)
    assert avg["precision"] == pytest.approx(0.75)
    assert avg["recall"] == pytest.approx(0.73)
    # Sample std: deviations ±0.06, ±0.04, ±0.02, 0 → squares sum 2·(36+16+4)e-4 = 0.0112;
    # / (7 - 1) → 0.0018667; sqrt → 0.043205.
    assert avg["f1_std"] == pytest.approx(math.sqrt(0.0112 / 6))
    assert ttn_average({"dtn": scores(1, 1, 1)}) is None
    assert math.isnan(ttn_average({"IIS": scores(1, 1, 1)})["f1_std"])


def test_table_rows_in_paper_order(results):
    rows = table_rows(results)
    assert [r["model"] for r in rows] == [
        "Baseline", "IIS", "HIH", "III", "HSS", "SSI", "SSH", "Avg. (7 TTN)", "DTN",
        "DTN (HS)", "spaCy ner",
    ]
    assert rows[1]["section"] == "Highest performance TTN"
    assert rows[4]["section"] == "Lowest performance TTN"
    # Missing runs give no row.
    assert [r["model"] for r in table_rows({"dtn": scores(1, 1, 1)})] == ["DTN"]


def test_format_table_percent_two_decimals(results):
    text = format_table(table_rows(results))
    lines = text.splitlines()
    assert lines[0] == "| Model | Precision | Recall | F1 |"
    assert "| Baseline | 60.00 | 50.00 | 55.00 |" in lines
    assert "| *Highest performance TTN* | | | |" in lines
    assert "| *Lowest performance TTN* | | | |" in lines
    assert "| Avg. (7 TTN) | 75.00 | 73.00 | 74.00 ± 4.32 |" in lines
    assert "| DTN (HS) | 82.00 | 80.00 | 81.00 |" in lines
    assert "| spaCy ner | 70.00 | 66.00 | 68.00 |" in lines


def test_parse_settings():
    assert parse_settings("all")[-3:] == ["dtn", "dtn_hs", "baseline"]
    assert len(parse_settings("all")) == 30
    assert parse_settings("dtn, IIS,dtn") == ["dtn", "IIS"]
    assert parse_settings("none") == []
    with pytest.raises(GridError, match="XYZ"):
        parse_settings("dtn,XYZ")


def test_overrides_baseline_and_ner_train_on_the_target_alone():
    options = dict(max_steps=5, eval_frequency=2, patience=0, seed=3, fraction=0.1,
                   target="t.spacy", source="s.spacy", dev="d.spacy", vectors=None)
    paths = {"target": None, "source": None, "dev": None, "vectors": None}
    dtn = grid.run_overrides(paths, "dtn", options)
    assert dtn["paths.source"] == "s.spacy" and dtn["components.dtn_ner.model.sharing"] == "dtn"
    assert dtn["corpora.train.seed"] == 3 and dtn["training.max_steps"] == 5
    assert grid.run_overrides(paths, "baseline", options)["paths.source"] is None
    ner = grid.run_overrides({"target": None, "dev": None}, None, options)
    assert "paths.source" not in ner and "components.dtn_ner.model.sharing" not in ner


CONFIG = """
[paths]
target = null
source = null
dev = null
vectors = null

[corpora]

[corpora.train]
@readers = "spacy_dtn.TransferCorpus.v1"
target = ${paths.target}
source = ${paths.source}
"""


def test_resume_skips_finished_runs(tmp_path, monkeypatch):
    """A run folder with model-best and done.json is not trained again."""
    config = tmp_path / "dtn.cfg"
    config.write_text(CONFIG, encoding="utf8")
    data = tmp_path / "d.spacy"
    DocBin(docs=[Doc(Vocab(), words=["a", "b"])]).to_disk(data)
    options = dict(target=str(data), source=str(data), dev=str(data), test=str(data),
                   max_steps=5, eval_frequency=2, patience=0, fraction=0.5, seed=0,
                   vectors=None, command="test")
    calls = []

    def fake_train(config_path, output_path, overrides, use_gpu):
        calls.append(overrides.get("components.dtn_ner.model.sharing", "ner"))
        (Path(output_path) / "model-best").mkdir(parents=True)

    f1 = {"dtn": 0.5, "IIS": 0.4, "ner": 0.3}

    def fake_eval(model_path, gold_docs):
        return scores(0.5, 0.5, f1[model_path.parent.name])

    out_dir = tmp_path / "grid"
    run_grid(["dtn", "IIS"], out_dir, options, config, config, train_fn=fake_train,
             evaluate_fn=fake_eval)
    assert calls == ["dtn", "IIS", "ner"]
    assert (out_dir / "runs" / "dtn" / "done.json").exists()
    # Second call with one more setting: only the new one trains.
    out = run_grid(["dtn", "IIS", "HHI"], out_dir, options, config, config,
                   train_fn=fake_train, evaluate_fn=lambda p, g: scores(0.5, 0.5, 0.45))
    assert calls == ["dtn", "IIS", "ner", "HHI"]
    assert out["runs"]["dtn"]["resumed"] and not out["runs"]["HHI"]["resumed"]
    saved = json.loads((out_dir / "results.json").read_text())
    assert set(saved["results"]) == {"dtn", "IIS", "HHI", "ner"}
    table = (out_dir / "table.md").read_text()
    assert "Command: `test`" in table and "| DTN |" in table
    # Test scores of runs not trained again are read back from test_scores.json.
    assert saved["results"]["dtn"]["micro"]["f1"] == 0.5
    assert saved["results"]["HHI"]["micro"]["f1"] == 0.45
    assert "| Avg. (2 TTN) | 50.00 | 50.00 | 42.50 ± 3.54 |" in table
    # A folder without done.json (a crashed run) is trained again.
    (out_dir / "runs" / "IIS" / "done.json").unlink()
    run_grid(["IIS"], out_dir, options, config, None, train_fn=lambda *a: None,
             evaluate_fn=fake_eval)
    assert (out_dir / "runs" / "IIS" / "done.json").exists()


def test_missing_data_is_a_grid_error(tmp_path):
    options = dict(target=str(tmp_path / "nope.spacy"), source="", dev="", test="")
    with pytest.raises(GridError, match="--target"):
        run_grid(["dtn"], tmp_path, options, tmp_path / "x.cfg", None)
