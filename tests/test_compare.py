"""The comparison command: its statistics by hand, its runs (faked), resuming and its JSON."""
import json
import math
import sys

import pytest
import srsly

from spacy_dtn.tools import compare
from spacy_dtn.tools.compare import (
    CompareError, Run, mean_sd, parse_seeds, parse_systems, run_compare, summarize,
    train_command,
)


def scores(p, r, per_type):
    f1 = 2 * p * r / (p + r)
    return {"micro": {"precision": p, "recall": r, "f1": f1},
            "per_type": {label: {"f1": v} for label, v in per_type.items()}}


def test_mean_and_sample_sd_by_hand():
    out = mean_sd([60.0, 62.0, 67.0])
    assert out["mean"] == pytest.approx(63.0)
    # deviations -3, -1, 4: (9 + 1 + 16) / 2 = 13
    assert out["sd"] == pytest.approx(math.sqrt(13.0))
    assert mean_sd([5.0]) == {"mean": 5.0, "sd": None}


def test_summarize_in_percent_per_seed_and_per_type():
    row = summarize(
        {
            1: scores(0.5, 0.5, {"Disease": 0.4}),
            0: scores(0.8, 0.6, {"Disease": 0.6, "Chemical": 0.9}),
        },
        {0: 0.7, 1: 0.5},
    )
    assert row["seeds"] == [0, 1]
    # seed 0: F1 = 2 * .8 * .6 / 1.4 = 0.685714...
    assert row["f1"] == pytest.approx([68.5714286, 50.0])
    assert row["mean"] == pytest.approx((68.5714286 + 50.0) / 2)
    assert row["p"] == pytest.approx([80.0, 50.0]) and row["r_mean"] == pytest.approx(55.0)
    assert row["dev_f1"] == pytest.approx([70.0, 50.0])
    # a type missing in a seed's scores counts as 0 there (the model found none of it)
    assert row["per_type"]["Chemical"]["f1"] == pytest.approx([90.0, 0.0])
    assert row["per_type"]["Disease"]["mean"] == pytest.approx(50.0)


def test_systems_and_seeds_parsing():
    assert parse_systems(["dtn", "ner"]) == {"dtn": "configs/dtn.cfg",
                                              "ner": "configs/ner_efficiency.cfg"}
    assert parse_systems(["mine=configs/x.cfg"]) == {"mine": "configs/x.cfg"}
    assert parse_systems(["dtn_tb_ta"])["dtn_tb_ta"].startswith("configs/dtn_tb.cfg --comp")
    assert parse_systems(["dtn_crf"]) == {
        "dtn_crf": "configs/dtn.cfg --components.dtn_ner.model.decoder crf"}
    with pytest.raises(CompareError, match="unknown system"):
        parse_systems(["crf"])
    assert parse_seeds("2,0,1,0") == [0, 1, 2]
    with pytest.raises(CompareError):
        parse_seeds("a,b")


def test_one_seed_drives_the_subsample_and_the_training(tmp_path):
    options = dict(target="corpus/t.spacy", source="corpus/s.spacy", dev="d.spacy",
                   vectors=None, fraction=0.1, max_steps=100, eval_frequency=10, patience=50,
                   dev_limit=0, gpu_id=-1)
    cmd = train_command(Run("ner", "configs/ner_efficiency.cfg", 7, tmp_path), options)
    pairs = dict(zip(cmd, cmd[1:]))
    assert pairs["--system.seed"] == "7" and pairs["--corpora.train.seed"] == "7"
    assert pairs["--corpora.train.target_fraction"] == "0.1"
    assert pairs["--paths.vectors"] == "null"
    cmd = train_command(Run("dtn", "configs/dtn.cfg", 0, tmp_path), options)
    assert dict(zip(cmd, cmd[1:]))["--paths.source"] == "corpus/s.spacy"
    # a variant: overrides after the config path go last, after the shared options
    variant = "configs/dtn_tb.cfg --components.dtn_transition_ner.model.label_map name"
    cmd = train_command(Run("dtn_tb_ta", variant, 0, tmp_path), options)
    assert cmd[4] == "configs/dtn_tb.cfg"
    assert cmd[-2:] == ["--components.dtn_transition_ner.model.label_map", "name"]


def fake_runner(calls, f1_of):
    """Writes what spacy train and spacy_dtn evaluate would; F1 from the run's folder."""
    def run(cmd, log_path, threads):
        calls.append(cmd)
        out = None
        if cmd[2] == "spacy":  # python -m spacy train CONFIG --output DIR
            out = cmd[cmd.index("--output") + 1]
            best = log_path.parent / "model-best"
            best.mkdir(parents=True, exist_ok=True)
            srsly.write_json(best / "meta.json", {"performance": {"ents_f": 0.5}})
        else:
            out = cmd[cmd.index("--output") + 1]
            system, seed = log_path.parent.name, int(log_path.parent.parent.name[5:])
            f1 = f1_of[system][seed]
            srsly.write_json(out, scores(f1, f1, {"Disease": f1}))
        assert out is not None
    return run


def _empty_inputs(tmp_path, monkeypatch):
    """Empty data files in ``tmp_path`` (made the cwd) and the options of a compare over them."""
    monkeypatch.chdir(tmp_path)
    for name in ("t.spacy", "s.spacy", "d.spacy", "e.spacy"):
        (tmp_path / name).write_bytes(b"")
    return dict(target="t.spacy", source="s.spacy", dev="d.spacy", test="e.spacy",
                vectors=None, fraction=0.1, max_steps=100, eval_frequency=10, patience=50,
                dev_limit=0, gpu_id=-1, threads=1, source_name="src", target_name="tgt",
                command="python -m spacy_dtn compare ...")


def test_compare_writes_json_and_markdown_and_resumes(tmp_path, monkeypatch):
    options = _empty_inputs(tmp_path, monkeypatch)
    (tmp_path / "a.cfg").write_text("[paths]\ntarget = null\nsource = null\ndev = null\n")
    (tmp_path / "b.cfg").write_text("[paths]\ntarget = null\ndev = null\n")
    systems = {"dtn": "a.cfg", "ner": "b.cfg"}
    f1_of = {"dtn": {0: 0.70, 1: 0.72}, "ner": {0: 0.66, 1: 0.68}}
    calls = []
    out_dir = tmp_path / "results" / "src-to-tgt"
    result = run_compare(systems, [0, 1], out_dir, options, jobs=2,
                         runner=fake_runner(calls, f1_of))
    assert len(calls) == 8  # 2 systems x 2 seeds x (train, evaluate)
    written = json.loads((out_dir / "compare.json").read_text())
    assert set(written) == {"setting", "seeds", "systems"}
    assert set(written["systems"]) == set(result["systems"])
    assert written["seeds"] == [0, 1]
    dtn = written["systems"]["dtn"]
    assert dtn["f1"] == pytest.approx([70.0, 72.0]) and dtn["mean"] == pytest.approx(71.0)
    assert dtn["sd"] == pytest.approx(math.sqrt(2.0))
    assert dtn["per_type"]["Disease"]["mean"] == pytest.approx(71.0)
    assert written["systems"]["ner"]["mean"] == pytest.approx(67.0)
    assert str(tmp_path) not in (out_dir / "compare.json").read_text()
    table = (out_dir / "compare.md").read_text()
    assert "| dtn |" in table and "71.00 ± 1.41" in table
    # Resumed: nothing is trained again; a third seed trains only its own runs.
    calls.clear()
    f1_of["dtn"][2], f1_of["ner"][2] = 0.74, 0.70
    result = run_compare(systems, [0, 1, 2], out_dir, options, runner=fake_runner(calls, f1_of))
    assert len(calls) == 4
    assert {c[c.index("--system.seed") + 1] for c in calls if "--system.seed" in c} == {"2"}
    assert result["systems"]["dtn"]["mean"] == pytest.approx(72.0)
    # Report only: seed 3 is not trained; the tables say which seeds each row holds.
    calls.clear()
    result = run_compare(systems, [0, 1, 2, 3], out_dir, options,
                         runner=fake_runner(calls, f1_of), train=False)
    assert calls == [] and result["systems"]["dtn"]["seeds"] == [0, 1, 2]
    assert "(seeds 0, 1, 2 only)" in (out_dir / "compare.md").read_text()


def test_a_new_system_joins_the_earlier_table_of_the_same_setting(tmp_path, monkeypatch):
    options = dict(_empty_inputs(tmp_path, monkeypatch), command="first")
    (tmp_path / "a.cfg").write_text("[paths]\ntarget = null\nsource = null\ndev = null\n")
    f1_of = {"dtn": {0: 0.70}, "ner": {0: 0.66}, "dtn_tb": {0: 0.75}}
    out_dir = tmp_path / "out"
    run_compare({"dtn": "a.cfg", "ner": "a.cfg"}, [0], out_dir, options,
                runner=fake_runner([], f1_of))
    calls = []
    run_compare({"dtn_tb": "a.cfg"}, [0], out_dir, {**options, "command": "second"},
                runner=fake_runner(calls, f1_of))
    assert len(calls) == 2  # dtn_tb alone was trained and evaluated
    written = json.loads((out_dir / "compare.json").read_text())
    assert list(written["systems"]) == ["dtn_tb", "dtn", "ner"]
    assert written["systems"]["dtn"]["mean"] == pytest.approx(70.0)
    assert written["systems"]["dtn"]["earlier_run"]
    assert "earlier_run" not in written["systems"]["dtn_tb"]
    assert written["setting"]["command"] == "second"
    assert written["setting"]["earlier_commands"] == ["first"]
    table = (out_dir / "compare.md").read_text()
    assert "| dtn * |" in table and "earlier command (rows marked *): `first`" in table
    # Another protocol in the same folder is not merged.
    with pytest.raises(CompareError, match="patience differ"):
        run_compare({"dtn_tb": "a.cfg"}, [0], tmp_path / "out", {**options, "patience": 10},
                    runner=fake_runner([], f1_of))


def test_missing_inputs_are_compare_errors(tmp_path):
    options = dict(target=str(tmp_path / "no.spacy"), source=None, dev="x", test="y",
                   vectors=None)
    with pytest.raises(CompareError, match="--target"):
        run_compare({"dtn": "configs/dtn.cfg"}, [0], tmp_path, options)


def test_cli_reports_a_bad_system_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spacy_dtn.__main__ import app

    monkeypatch.setattr(sys, "argv", ["spacy_dtn", "compare"])
    result = CliRunner().invoke(app, [
        "compare", "--target", str(tmp_path / "t.spacy"), "--dev", "d", "--test", "e",
        "--output-dir", str(tmp_path / "out"), "--system", "crf",
    ])
    assert result.exit_code == 1
    assert "unknown system 'crf'" in result.output
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_default_results_folder_names_the_setting():
    assert (
        compare.default_results_name("ncbi-disease", "bc5cdr", 0.1)
        == "ncbi-disease-to-bc5cdr-10pct"
    )
    assert compare.default_results_name(None, "bc5cdr", 0.05) == "none-to-bc5cdr-5pct"
    assert (
        compare.default_results_name("ncbi-disease", "bc5cdr", 0.1, "trf")
        == "ncbi-disease-to-bc5cdr-10pct-trf"
    )


# ------------------------------------------------------------------ over a transformer


def model_folder(path, hidden_size=384):
    """A stand-in for a local Hugging Face model folder: only its config.json is read."""
    path.mkdir(parents=True)
    srsly.write_json(path / "config.json", {"model_type": "bert", "hidden_size": hidden_size})
    return path


def test_transformer_systems_are_known_but_not_defaults():
    trf = parse_systems(["dtn_trf", "baseline_trf", "ner_trf"])
    assert trf == {"dtn_trf": "configs/dtn_trf.cfg", "baseline_trf": "configs/baseline_trf.cfg",
                   "ner_trf": "configs/ner_trf.cfg"}
    assert not set(trf) & set(compare.DEFAULT_SYSTEMS)
    assert all(compare.reads_transformer(config) for config in trf.values())
    assert not compare.reads_transformer("configs/dtn.cfg")


def test_the_transformer_goes_to_the_configs_that_read_it(tmp_path):
    folder = str(model_folder(tmp_path / "minilm", hidden_size=384))
    options = dict(target="t.spacy", source="s.spacy", dev="d.spacy", vectors=None,
                   transformer=folder, fraction=0.1, max_steps=100, eval_frequency=10,
                   patience=50, dev_limit=0, gpu_id=-1)
    pairs = lambda cmd: dict(zip(cmd, cmd[1:]))  # noqa: E731
    # the DTN's transformer: the model and its width (config.json's hidden_size)
    cmd = train_command(Run("dtn_trf", "configs/dtn_trf.cfg", 3, tmp_path), options)
    assert pairs(cmd)["--paths.transformer"] == folder
    assert pairs(cmd)["--vars.transformer_width"] == "384"
    assert pairs(cmd)["--paths.source"] == "s.spacy" and pairs(cmd)["--system.seed"] == "3"
    cmd = train_command(Run("baseline_trf", "configs/baseline_trf.cfg", 0, tmp_path), options)
    assert pairs(cmd)["--paths.transformer"] == folder
    # spaCy's ner learns its listener's width: no [vars] transformer_width to set
    cmd = train_command(Run("ner_trf", "configs/ner_trf.cfg", 0, tmp_path), options)
    assert pairs(cmd)["--paths.transformer"] == folder
    assert "--vars.transformer_width" not in cmd
    assert pairs(cmd)["--corpora.train.target_fraction"] == "0.1"
    # a config without [paths] transformer gets neither
    cmd = train_command(Run("dtn", "configs/dtn.cfg", 0, tmp_path), options)
    assert "--paths.transformer" not in cmd and "--vars.transformer_width" not in cmd
    # a hub name is passed as it is; its width is the config's own
    hub = {**options, "transformer": "sentence-transformers/all-MiniLM-L6-v2"}
    cmd = train_command(Run("dtn_trf", "configs/dtn_trf.cfg", 0, tmp_path), hub)
    assert pairs(cmd)["--paths.transformer"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "--vars.transformer_width" not in cmd
    # none given: the config's default
    cmd = train_command(Run("dtn_trf", "configs/dtn_trf.cfg", 0, tmp_path),
                        {**options, "transformer": None})
    assert "--paths.transformer" not in cmd


def test_offline_a_transformer_system_needs_a_local_folder(tmp_path, monkeypatch):
    trf = {"dtn_trf": "configs/dtn_trf.cfg", "ner_trf": "configs/ner_trf.cfg"}
    folder = str(model_folder(tmp_path / "minilm"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    compare.check_transformer(trf, None)  # online: the configs' hub default may be fetched
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CompareError, match="--transformer is needed for dtn_trf, ner_trf"):
        compare.check_transformer(trf, None)
    with pytest.raises(CompareError, match="not a local model folder"):
        compare.check_transformer(trf, "sentence-transformers/all-MiniLM-L6-v2")
    compare.check_transformer(trf, folder)
    compare.check_transformer({"dtn": "configs/dtn.cfg"}, None)  # no transformer to load


def test_every_run_sees_the_environment_hf_hub_offline_included(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    log = tmp_path / "run.log"
    log.write_text("", encoding="utf8")
    show = "import os; print(os.environ['HF_HUB_OFFLINE'], os.environ['OMP_NUM_THREADS'])"
    compare.run_subprocess([sys.executable, "-c", show], log, threads=1)
    assert log.read_text(encoding="utf8").splitlines()[-1] == "1 1"


def test_cli_passes_transformer_and_the_table_names_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spacy_dtn.__main__ import app
    from spacy_dtn.cli import compare as cli

    seen = {}

    def fake_run_compare(systems, seeds, output_dir, options, **kwargs):
        seen.update(systems=systems, options=options, output_dir=output_dir)
        return compare.aggregate(systems, seeds, {name: {} for name in systems}, options)

    monkeypatch.setattr(cli, "run_compare", fake_run_compare)
    monkeypatch.setattr(sys, "argv", ["spacy_dtn", "compare"])
    monkeypatch.chdir(tmp_path)
    model_folder(tmp_path / "training" / "minilm")
    result = CliRunner().invoke(app, [
        "compare", "--target", "bc5cdr/train.spacy", "--dev", "d", "--test", "e",
        "--source", "ncbi-disease/train.spacy", "--output-suffix", "trf",
        "--system", "dtn_trf", "--system", "ner_trf",
        "--transformer", str(tmp_path / "training" / "minilm"),
    ])
    assert result.exit_code == 0, result.output
    assert list(seen["systems"]) == ["dtn_trf", "ner_trf"]
    assert str(seen["output_dir"]) == "results/ncbi-disease-to-bc5cdr-10pct-trf"
    assert seen["options"]["transformer"] == "training/minilm"  # kept relative
    table = compare.format_markdown(fake_run_compare(seen["systems"], [0], None, seen["options"]))
    assert "* transformer: `training/minilm`" in table
    # without a transformer the table has no such line (the tables written before it)
    assert "* transformer:" not in compare.format_markdown(
        fake_run_compare({"dtn": "configs/dtn.cfg"}, [0], None,
                         {**seen["options"], "transformer": None}))


def test_several_sources_get_their_task_names_and_the_label_map(tmp_path):
    options = dict(target="t.spacy", source="a/x.spacy,b/y.spacy", dev="d.spacy",
                   vectors=None, fraction=0.1, max_steps=100, eval_frequency=10, patience=50,
                   dev_limit=0, gpu_id=-1, source_names=["a", "b"],
                   label_map={"CHEBI": "Chemical", "Disease": "Disease"})
    table = '{"CHEBI": "Chemical", "Disease": "Disease"}'
    cmd = train_command(Run("dtn", "configs/dtn.cfg", 0, tmp_path), options)
    pairs = dict(zip(cmd, cmd[1:]))
    assert pairs["--paths.source"] == "a/x.spacy,b/y.spacy"
    assert pairs["--corpora.train.source_name"] == "a,b"
    assert pairs["--components.dtn_ner.model.label_map"] == table
    cmd = train_command(Run("ner_pooled", "configs/ner_pooled.cfg", 0, tmp_path), options)
    pairs = dict(zip(cmd, cmd[1:]))
    assert pairs["--corpora.train.label_map"] == table
    assert pairs["--corpora.train.source_name"] == "a,b"
    # configs that read no source get neither; the baseline ties nothing
    for system, config in (("ner", "configs/ner_efficiency.cfg"),
                           ("baseline", "configs/baseline.cfg")):
        cmd = train_command(Run(system, config, 0, tmp_path), options)
        assert not any("label_map" in part or "source_name" in part for part in cmd)


def test_parse_label_map():
    assert compare.parse_label_map([]) is None
    assert compare.parse_label_map(["CHEBI=Chemical", " Disease = Disease "]) == {
        "CHEBI": "Chemical", "Disease": "Disease"}
    with pytest.raises(CompareError, match="SOURCE_LABEL=TARGET_LABEL"):
        compare.parse_label_map(["CHEBI"])


def test_ner_pool_ft_trains_on_ner_pooled_of_its_own_seed(tmp_path, monkeypatch):
    options = _empty_inputs(tmp_path, monkeypatch)
    (tmp_path / "pool.cfg").write_text("[paths]\ntarget = null\nsource = null\n")
    (tmp_path / "ft.cfg").write_text("[paths]\ntarget = null\npretrained = null\n")
    f1_of = {"ner_pool_ft": {0: 0.7, 1: 0.7}, "ner_pooled": {0: 0.6, 1: 0.6}}
    calls = []
    systems = {"ner_pool_ft": "ft.cfg", "ner_pooled": "pool.cfg"}
    run_compare(systems, [0, 1], tmp_path / "out", options, jobs=2,
                runner=fake_runner(calls, f1_of))
    trains = [cmd for cmd in calls if cmd[2] == "spacy"]
    order = [cmd[cmd.index("--output") + 1] for cmd in trains]
    for seed in (0, 1):
        pooled = str(tmp_path / "out" / "runs" / f"seed-{seed}" / "ner_pooled")
        ft_cmd = next(cmd for cmd in trains if f"seed-{seed}/ner_pool_ft" in
                      cmd[cmd.index("--output") + 1])
        assert ft_cmd[ft_cmd.index("--paths.pretrained") + 1] == pooled + "/model-best"
        assert order.index(pooled) < order.index(ft_cmd[ft_cmd.index("--output") + 1])
    with pytest.raises(CompareError, match="add --system ner_pooled"):
        run_compare({"ner_pool_ft": "ft.cfg"}, [0], tmp_path / "out2", options,
                    runner=fake_runner([], f1_of))


def test_a_system_named_x_ft_with_a_pretrained_path_trains_on_x():
    assert compare.pretrained_by("ner_pool_ft", "configs/ner_pool_ft.cfg") == "ner_pooled"
    assert compare.pretrained_by("dtn_any_ft", "configs/dtn_ft.cfg") == "dtn_any"
    assert compare.pretrained_by("dtn_ft", "configs/dtn.cfg") is None  # no [paths] pretrained
    assert compare.pretrained_by("dtn_partial", "configs/dtn.cfg") is None
    # the DTN on spaCy's ner started from stock ner on the pool; dtn_tb itself starts fresh
    known = compare.KNOWN_SYSTEMS
    assert compare.pretrained_by("dtn_tb_pool", known["dtn_tb_pool"]) == "ner_pooled"
    assert compare.pretrained_by("dtn_tb", known["dtn_tb"]) is None


def test_filled_systems_wait_for_their_teacher_and_the_fine_tune_for_its_pool(
        tmp_path, monkeypatch):
    options = _empty_inputs(tmp_path, monkeypatch)
    (tmp_path / "ner.cfg").write_text("[paths]\ntarget = null\n")
    (tmp_path / "pool.cfg").write_text("[paths]\ntarget = null\nsource = null\nteacher = null\n")
    (tmp_path / "ft.cfg").write_text("[paths]\ntarget = null\npretrained = null\n")
    # listed in the reverse of the order they must train in
    systems = {"ner_fill_ft": "ft.cfg", "ner_filled": "pool.cfg", "ner": "ner.cfg"}
    f1_of = {name: {0: 0.5} for name in systems}
    calls = []
    run_compare(systems, [0], tmp_path / "out", options, jobs=1,
                runner=fake_runner(calls, f1_of))
    trains = {cmd[cmd.index("--output") + 1].rsplit("/", 1)[1]: cmd
              for cmd in calls if cmd[2] == "spacy"}
    assert list(trains) == ["ner", "ner_filled", "ner_fill_ft"]
    runs = tmp_path / "out" / "runs" / "seed-0"
    filled = trains["ner_filled"]
    assert filled[filled.index("--paths.teacher") + 1] == str(runs / "ner" / "model-best")
    ft = trains["ner_fill_ft"]
    assert ft[ft.index("--paths.pretrained") + 1] == str(runs / "ner_filled" / "model-best")
    assert "--paths.teacher" not in trains["ner"] + ft
    with pytest.raises(CompareError, match="taught by ner: add --system ner"):
        run_compare({"dtn_filled": "pool.cfg"}, [0], tmp_path / "out2", options,
                    runner=fake_runner([], f1_of))
