"""The grid: its systems, Table 1's arithmetic and the claim by hand, how runs ended from
real log tables, and the command over compare's orchestrator (resume, files written).

Nothing here trains: compare's runner is replaced by one that writes what ``spacy train``
and ``spacy_dtn evaluate`` would, so what is tested is the orchestration and the arithmetic.
"""
import json
import math

import pytest
import srsly

from spacy_dtn.tools.grid import (
    DEV, GridError, best_and_worst, check_claim, format_claim, grid_systems, how_runs_ended,
    parse_settings, rank_ttn, run_grid, table_rows, ttn_average,
)

PNG = b"\x89PNG\r\n\x1a\n"


def row(f1s, p=None, r=None):
    """A compare.json row (percent) with the given F1 per seed."""
    mean = sum(f1s) / len(f1s)
    sd = (math.sqrt(sum((v - mean) ** 2 for v in f1s) / (len(f1s) - 1))
          if len(f1s) > 1 else None)
    return {"seeds": list(range(len(f1s))), "f1": list(f1s), "mean": mean, "sd": sd,
            "p_mean": mean + 1 if p is None else p, "r_mean": mean - 1 if r is None else r,
            "dev_mean": mean + 0.5, "per_type": {"Disease": {"mean": mean, "sd": sd}}}


# mean F1 of seven TTN codes, spaced by 2 so that the hand computation is easy to follow
TTN_F1 = {"IIS": 80.0, "HIH": 78.0, "III": 76.0, "HHI": 74.0, "HSS": 72.0, "SSI": 70.0,
          "SSH": 68.0}


@pytest.fixture
def systems():
    out = {f"ttn_{code}": row([f - 0.5, f + 0.5]) for code, f in TTN_F1.items()}
    out.update(baseline=row([69.0, 71.0]), dtn=row([80.0, 80.4]), dtn_hs=row([78.0, 80.0]),
               ner=row([72.0, 73.0]))
    return out


def test_settings_and_systems():
    assert len(parse_settings("all")) == 30
    assert parse_settings("HIS, dtn,HIS") == ["HIS", "dtn"]
    with pytest.raises(GridError, match="XYZ"):
        parse_settings("dtn,XYZ")
    with pytest.raises(GridError, match="none given"):
        parse_settings(" , ")
    systems = grid_systems(["HIS", "dtn", "baseline"], "configs/ttn.cfg")
    assert systems == {
        "ttn_HIS": "configs/ttn.cfg --components.dtn_ner.model.sharing HIS",
        "dtn": "configs/dtn.cfg", "baseline": "configs/baseline.cfg",
        "ner": "configs/ner_efficiency.cfg"}
    assert "ner" not in grid_systems(["dtn"], with_ner=False)


def test_table_arithmetic_by_hand(systems):
    ranked = rank_ttn(systems)
    assert [code for code, _ in ranked] == list(TTN_F1)  # codes only, best first
    best, worst = best_and_worst(ranked)
    assert [c for c, _ in best] == ["IIS", "HIH", "III"]
    assert [c for c, _ in worst] == ["HSS", "SSI", "SSH"]
    best, worst = best_and_worst(ranked[:4])  # four codes: three best, one worst, no repeat
    assert [c for c, _ in best + worst] == ["IIS", "HIH", "III", "HHI"]
    average = ttn_average(systems)
    # mean 74; deviations ±6, ±4, ±2, 0: sd = sqrt(112 / 6)
    assert average["f1"] == pytest.approx(74.0)
    assert average["sd_over_codes"] == pytest.approx(math.sqrt(112 / 6))
    assert average["p"] == pytest.approx(75.0) and average["n"] == 7
    models = [r["model"] for r in table_rows(systems)]
    assert models == ["Baseline (no transfer)", "IIS", "HIH", "III", "HSS", "SSI", "SSH",
                      "Avg. (7 TTN)", "DTN", "DTN (HS)", "spaCy ner"]


def test_the_claim_by_hand(systems):
    claims = check_claim(systems)
    sd = math.sqrt(112 / 6)
    dtn = claims["dtn"]  # 80.2: above the best code (80.0)
    assert dtn["to_best"] == pytest.approx(0.2) and dtn["within_best"]
    assert dtn["over_average_sd"] == pytest.approx(6.2 / sd) and dtn["above_average"]
    assert dtn["rank"] == 1 and dtn["over_baseline"] == pytest.approx(10.2)
    assert dtn["over_ner"] == pytest.approx(7.7)
    hs = claims["dtn_hs"]  # 79.0: one point under IIS
    assert hs["to_best"] == pytest.approx(-1.0) and not hs["within_best"]
    assert hs["rank"] == 2 and hs["above_average"]
    text = format_claim(claims)
    assert "**DTN** 80.20: +0.20 to the best fixed scheme (IIS, 80.00), **within 0.5**" in text
    assert "**DTN (HS)** 79.00: -1.00 to the best fixed scheme (IIS, 80.00), **not within" in text
    # on dev, read from the rows' dev_mean: the DTN's dev F1 70.0 is below six codes' (80.5,
    # 78.5, ..., 70.5): rank 7, 10.5 under the best
    systems["dtn"]["dev_mean"] = 70.0
    dev = check_claim(systems, DEV)["dtn"]
    assert dev["best_code"] == "IIS" and dev["best_f1"] == pytest.approx(80.5)
    assert dev["to_best"] == pytest.approx(-10.5) and dev["rank"] == 7
    assert not dev["within_best"] and not dev["above_average"]
    # one code: no sd over codes, no claim
    assert check_claim({"ttn_III": row([70.0]), "dtn": row([71.0])}) == {}


# spaCy's console table, as ``spacy train`` writes it into a run's train.log
LOG = (
    "E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE \n"
    "---  ------  ------------  --------  ------  ------  ------  ------\n"
    "  0       0          0.00     23.60    0.02    0.06    0.01    0.00\n"
    "  1     200         63.86   2098.08   62.33   68.39   57.25    0.62\n"
    "  3     {last}        455.24    846.39   65.81   79.15   56.32    0.66\n"
)


def test_how_runs_ended_from_the_logs(tmp_path):
    early, capped, none = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for path, last in ((early, 400), (capped, 600)):
        path.mkdir()
        (path / "train.log").write_text(LOG.format(last=last), encoding="utf8")
    ended = how_runs_ended({"x": [early, capped], "y": [none]}, max_steps=600)
    assert ended == {"x": ["early stop", "step cap"], "y": ["unknown"]}


def fake_runner(calls, f1_of, last_step=400):
    """Writes what spacy train (a log table, model-best) and spacy_dtn evaluate would."""
    def run(cmd, log_path, threads):
        calls.append(log_path.parent.name)
        if cmd[2] == "spacy":  # python -m spacy train CONFIG --output DIR ...
            (log_path.parent / "model-best").mkdir(parents=True, exist_ok=True)
            srsly.write_json(log_path.parent / "model-best" / "meta.json",
                             {"performance": {"ents_f": 0.5}})
            with log_path.open("a", encoding="utf8") as log:
                log.write(LOG.format(last=last_step))
        else:
            f1 = f1_of[log_path.parent.name]
            micro = {"precision": f1, "recall": f1, "f1": f1}
            srsly.write_json(cmd[cmd.index("--output") + 1],
                             {"micro": micro, "per_type": {"Disease": {"f1": f1}}})
    return run


def test_grid_trains_through_compare_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("t.spacy", "s.spacy", "d.spacy", "e.spacy"):
        (tmp_path / name).write_bytes(b"")
    configs = tmp_path / "configs"
    configs.mkdir()
    with_source = "[paths]\ntarget = null\nsource = null\ndev = null\n"
    for name in ("ttn", "dtn", "baseline"):
        (configs / f"{name}.cfg").write_text(with_source, encoding="utf8")
    (configs / "ner_efficiency.cfg").write_text("[paths]\ntarget = null\ndev = null\n")
    options = dict(target="t.spacy", source="s.spacy", dev="d.spacy", test="e.spacy",
                   vectors=None, fraction=0.1, max_steps=600, eval_frequency=200,
                   patience=200, dev_limit=0, gpu_id=-1, threads=1, source_name="src",
                   target_name="tgt", command="python -m spacy_dtn grid ...")
    f1_of = {"ttn_IIS": 0.70, "ttn_HHH": 0.66, "dtn": 0.69, "baseline": 0.60, "ner": 0.65,
             "ttn_SSS": 0.68}
    calls = []
    out = tmp_path / "grid"
    grid = run_grid(["IIS", "HHH", "dtn", "baseline"], [0], out, options, jobs=2,
                    runner=fake_runner(calls, f1_of))
    assert sorted(set(calls)) == ["baseline", "dtn", "ner", "ttn_HHH", "ttn_IIS"]
    assert [r["model"] for r in grid["table"]] == [
        "Baseline (no transfer)", "IIS", "HHH", "Avg. (2 TTN)", "DTN", "spaCy ner"]
    assert (out / "runs" / "seed-0" / "ttn_IIS" / "done.json").exists()  # compare's layout
    assert (out / "compare.json").exists()
    saved = json.loads((out / "grid.json").read_text())
    assert saved["claim"]["dtn"]["best_code"] == "IIS"
    assert saved["claim"]["dtn"]["to_best"] == pytest.approx(-1.0)
    assert saved["ended"]["dtn"] == ["early stop"]
    table = (out / "table.md").read_text()
    assert "| Avg. (2 TTN) | 68.00 | 68.00 | 68.00 ± 2.83 (sd over codes) |" in table
    assert "Every run ended by early stopping." in table
    pytest.importorskip("matplotlib")
    assert (out / "grid.png").read_bytes()[:8] == PNG
    # one more code: only it trains; the others are resumed from their done.json
    calls.clear()
    run_grid(["IIS", "HHH", "SSS", "dtn", "baseline"], [0], out, options,
             runner=fake_runner(calls, f1_of, last_step=600))
    assert set(calls) == {"ttn_SSS"}
    saved = json.loads((out / "grid.json").read_text())
    assert saved["ended"]["ttn_SSS"] == ["step cap"]
    assert "Runs that reached the step cap: ttn_SSS." in (out / "table.md").read_text()


def test_the_grid_takes_one_source(tmp_path):
    options = dict(source="a.spacy,b.spacy")
    with pytest.raises(GridError, match="one source"):
        run_grid(["dtn"], [0], tmp_path, options)
