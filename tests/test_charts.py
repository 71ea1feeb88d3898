"""compare's pictures: the training curve read from train.log by hand, the PNGs written, and
compare without matplotlib (one info line, its tables as before)."""
import sys

import pytest

from spacy_dtn.tools.charts import (parse_train_log, plot_compare, plot_curves, read_curve,
                                    write_charts)
from spacy_dtn.tools.compare import run_compare

PNG = b"\x89PNG\r\n\x1a\n"

# The start of a real spacy_dtn.ConsoleLogger.v1 table (a loss column per task), as
# `spacy train` writes it into runs/seed-0/dtn_partial/train.log: colour codes, a reader's
# message inside the table, and the test evaluation's own table after training.
DTN_LOG = (
    "$ python -m spacy train configs/dtn.cfg --output runs/seed-0/dtn_partial\n"
    "\x1b[38;5;4mℹ Initial learn rate: 0.005\x1b[0m\n"
    "E    #       LOSS DTN_NER  LOSS TARGET  LOSS NCBI-...  LOSS CRAFT...  ENTS_F  ENTS_P  "
    "ENTS_R  SCORE \n"
    "---  ------  ------------  -----------  -------------  -------------  ------  ------  "
    "------  ------\n"
    "  0       0         11.93         0.00           0.00          11.93    0.55    0.40    "
    "0.92    0.01\n"
    "\x1b[38;5;4mℹ TransferCorpus: target corpus/bc5cdr/train.spacy: kept 456 of 4560\n"
    "docs (fraction 0.1, seed 0), 456 examples\x1b[0m\n"
    "  0     200        159.30        73.95          18.52          29.53   54.67   57.08   "
    "52.45    0.55\n"
    "  0     400         35.39        18.96           3.08           4.95   62.53   66.81   "
    "58.76    0.63\n"
    "\n"
    "type            P       R      F1   support\n"
    "---------   -----   -----   -----   -------\n"
    "Chemical    81.33   67.56   73.81      5385\n"
    "micro avg   76.25   64.58   69.93      9809\n"
)
# spaCy's own ConsoleLogger table (runs/seed-0/ner/train.log)
NER_LOG = (
    "\x1b[38;5;4mℹ Pipeline: ['tok2vec', 'ner']\x1b[0m\n"
    "E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE \n"
    "---  ------  ------------  --------  ------  ------  ------  ------\n"
    "  0       0          0.00     23.60    0.02    0.06    0.01    0.00\n"
    "  1     200         63.86   2098.08   62.33   68.39   57.25    0.62\n"
    "  3     400        455.24    846.39   65.81   79.15   56.32    0.66\n"
    "\x1b[38;5;2m✔ Saved pipeline to output directory\x1b[0m\n"
)


def test_the_curve_is_step_and_dev_ents_f_by_hand():
    assert parse_train_log(DTN_LOG) == [(0, 0.55), (200, 54.67), (400, 62.53)]
    assert parse_train_log(NER_LOG) == [(0, 0.02), (200, 62.33), (400, 65.81)]
    assert parse_train_log("$ python -m spacy train ...\nTraceback ...\n") == []
    # a log of two trainings (a restart): the last one's points
    assert parse_train_log(NER_LOG + NER_LOG.replace("62.33", "61.00")) == [
        (0, 0.02), (200, 61.00), (400, 65.81)]


def _result(systems):
    return {
        "setting": {"source": "ncbi-disease", "target": "bc5cdr", "fraction_pct": 10.0},
        "seeds": [0, 1, 2],
        "systems": {name: {"seeds": [0, 1, 2], "f1": f1, "mean": sum(f1) / len(f1), "sd": 1.0}
                    for name, f1 in systems.items()},
    }


def test_charts_are_pngs(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    result = _result({"dtn": [69.9, 69.3, 66.6], "baseline": [68.6, 65.3, 65.2],
                      "ner": [69.7, 68.1, 67.1]})
    path = plot_compare(result, tmp_path / "compare.png")
    assert path.read_bytes()[:8] == PNG
    for name, text in (("dtn", DTN_LOG), ("ner", NER_LOG)):
        (tmp_path / "runs" / "seed-0" / name).mkdir(parents=True)
        (tmp_path / "runs" / "seed-0" / name / "train.log").write_text(text, encoding="utf8")
    runs = {name: tmp_path / "runs" / "seed-0" / name for name in ("dtn", "baseline", "ner")}
    curves = plot_curves(runs, tmp_path / "curves.png")
    assert list(curves) == ["dtn", "ner"]  # baseline has no log: left out
    assert curves["ner"] == read_curve(runs["ner"] / "train.log")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    assert plot_curves({"baseline": runs["baseline"]}, tmp_path / "none.png") == {}
    assert not (tmp_path / "none.png").exists()
    # redrawn from a results folder into another one, named
    written = write_charts(result, tmp_path, tmp_path / "img", name="several")
    assert [p.name for p in written] == ["compare-several.png", "curves-several.png"]


def test_compare_writes_its_charts_beside_compare_md(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    from test_compare import fake_runner

    def runner(cmd, log_path, threads):  # spacy train's table into the run's train.log
        fake_runner([], f1_of)(cmd, log_path, threads)
        if cmd[2] == "spacy":
            log_path.write_text(NER_LOG, encoding="utf8")

    monkeypatch.chdir(tmp_path)
    for name in ("t.spacy", "d.spacy", "e.spacy"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "b.cfg").write_text("[paths]\ntarget = null\ndev = null\n")
    options = dict(target="t.spacy", source=None, dev="d.spacy", test="e.spacy", vectors=None,
                   fraction=0.1, max_steps=100, eval_frequency=10, patience=50, dev_limit=0,
                   gpu_id=-1, threads=1, source_name=None, target_name="tgt", command="...")
    f1_of = {"ner": {0: 0.66, 1: 0.68}}
    out_dir = tmp_path / "out"
    run_compare({"ner": "b.cfg"}, [0, 1], out_dir, options, runner=runner)
    assert (out_dir / "compare.png").read_bytes()[:8] == PNG
    assert (out_dir / "curves.png").read_bytes()[:8] == PNG


def test_without_matplotlib_compare_draws_nothing_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    assert write_charts(_result({"ner": [66.0, 68.0, 67.0]}), tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and len(out.strip().splitlines()) == 1
