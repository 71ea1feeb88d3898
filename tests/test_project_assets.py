"""The quick start's first step: local corpora where they exist, the declared downloads else."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from dtn_helpers import DATA, corpus_path

ROOT = Path(__file__).parents[1]


def project_copy(tmp_path: Path) -> Path:
    """project.yml and scripts/ in a temporary folder (the workflow's own files)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project / "project.yml")
    shutil.copytree(ROOT / "scripts", project / "scripts")
    return project


def run(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_dry_run_of_all_starts_with_the_assets_step_on_the_given_folder(tmp_path):
    project = project_copy(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run([sys.executable, "-m", "spacy", "project", "run", "all", ".", "--dry",
               "--vars.local_assets", str(empty)], project)
    assert out.returncode == 0, out.stderr
    commands = [line.split("Running command: ", 1)[1] for line in out.stdout.splitlines()
                if "Running command: " in line]
    assert commands[0].endswith(f"scripts/get_assets.py {empty}")
    assert "convert iob assets/bc5cdr/train.tsv" in commands[1]


def test_an_empty_or_missing_local_folder_takes_the_download_path(tmp_path):
    project = project_copy(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    for local in (empty, tmp_path / "absent"):
        out = run([sys.executable, "scripts/get_assets.py", str(local), "--dry"], project)
        assert out.returncode == 0, out.stderr
        assert "would run: python -m weasel assets ." in out.stdout
        assert "would copy" not in out.stdout
    assert not (project / "assets").exists()


def test_an_unreachable_download_ends_in_one_line_naming_local_assets(tmp_path):
    """The first run offline: the declared URLs point at a closed local port, no ../shared."""
    project = project_copy(tmp_path)
    text = (project / "project.yml").read_text(encoding="utf8")
    text = text.replace("https://raw.githubusercontent.com/", "http://127.0.0.1:9/")
    (project / "project.yml").write_text(text, encoding="utf8")
    assert not (project.parent / "shared" / "data").exists()
    out = run([sys.executable, "-m", "spacy", "project", "run", "assets", "."], project)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr and out.stderr == ""
    failure = [line for line in out.stdout.splitlines() if "\u2718" in line]
    assert len(failure) == 1
    assert ("\u2718 Cannot download the assets (no connection to 127.0.0.1): pass "
            "--vars.local_assets DIR, a folder holding the corpora as <corpus>/<split>.tsv "
            "(e.g. ../shared/data)") in failure[0]


def test_any_other_download_failure_keeps_its_own_output_and_exit_code(tmp_path, capsys,
                                                                     monkeypatch):
    spec = importlib.util.spec_from_file_location("get_assets", ROOT / "scripts" / "get_assets.py")
    get_assets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(get_assets)
    monkeypatch.setattr(get_assets, "DOWNLOAD", [
        sys.executable, "-c", "import sys; sys.exit('ValueError: checksum mismatch for x.tsv')"])
    with pytest.raises(SystemExit) as exit_:
        get_assets.download(tmp_path)
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "ValueError: checksum mismatch for x.tsv\n"


def test_local_copies_are_copied_and_checked(tmp_path):
    corpus_path("bc5cdr", "train.tsv")
    project = project_copy(tmp_path)
    local = tmp_path / "local"
    for corpus in ("bc5cdr", "ncbi-disease"):
        shutil.copytree(DATA / corpus, local / corpus)
    out = run([sys.executable, "scripts/get_assets.py", str(local), "--dry"], project)
    assert "would copy" in out.stdout and "weasel" not in out.stdout
    out = run([sys.executable, "scripts/get_assets.py", str(local)], project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 assets copied" in out.stdout
    assert "not in" in out.stdout and "assets/bc2gm/train.tsv" in out.stdout
    for split in ("train", "devel", "test"):
        copied = project / "assets" / "bc5cdr" / f"{split}.tsv"
        assert copied.read_bytes() == (DATA / "bc5cdr" / f"{split}.tsv").read_bytes()
    # a corrupted local copy fails on its checksum
    (local / "bc5cdr" / "test.tsv").write_text("x\tO\n", encoding="utf8")
    (project / "assets" / "bc5cdr" / "test.tsv").unlink()
    out = run([sys.executable, "scripts/get_assets.py", str(local)], project)
    assert out.returncode == 1 and "checksum mismatch: assets/bc5cdr/test.tsv" in out.stdout


def test_init_vectors_null_builds_nothing(tmp_path):
    out = run([sys.executable, str(ROOT / "scripts" / "init_vectors.py"), "null"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "null").exists()
    assert "no vectors pipeline" in out.stdout


def test_every_declared_corpus_asset_has_a_url_and_checksum():
    assets = srsly.read_yaml(ROOT / "project.yml")["assets"]
    corpora = [a for a in assets if a["dest"].split("/")[1] in ("bc5cdr", "ncbi-disease", "bc2gm")]
    assert len(corpora) == 9
    for asset in corpora:
        assert asset["url"].startswith("https://") and len(asset["checksum"]) == 32


def test_transformer_path_prints_or_links_the_downloaded_folder(tmp_path):
    asset = tmp_path / "assets" / "all-MiniLM-L6-v2"
    asset.mkdir(parents=True)
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        (asset / name).write_text("{}", encoding="utf8")
    script = str(ROOT / "scripts" / "transformer_path.py")
    out = run([sys.executable, script], tmp_path)  # --asset's default, below the project
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(asset.resolve())
    link = tmp_path / "training" / "transformer" / "all-MiniLM-L6-v2"
    for _ in range(2):  # a second run replaces its own link
        out = run([sys.executable, script, "--link", str(link)], tmp_path)
        assert out.returncode == 0, out.stderr
        assert link.is_symlink() and link.resolve() == asset.resolve()


def test_all_trf_compares_the_transformer_systems_over_the_linked_model(tmp_path):
    project = project_copy(tmp_path)
    out = run([sys.executable, "-m", "spacy", "project", "run", "all-trf", ".", "--dry"], project)
    assert out.returncode == 0, out.stderr
    commands = [line.split("Running command: ", 1)[1] for line in out.stdout.splitlines()
                if "Running command: " in line]
    assert "scripts/get_assets.py" in commands[0]
    assert commands[-2].endswith("transformer_path.py --link training/transformer/all-MiniLM-L6-v2")
    compare = commands[-1]
    for part in ("--system dtn_trf --system baseline_trf --system ner_trf",
                 "--transformer training/transformer/all-MiniLM-L6-v2", "--output-suffix trf",
                 "--target corpus/bc5cdr/train.spacy", "--fraction 0.1"):
        assert part in compare
    assets = srsly.read_yaml(project / "project.yml")["assets"]
    minilm = [a for a in assets if a["dest"].startswith("assets/all-MiniLM-L6-v2/")]
    assert {a["dest"].rsplit("/", 1)[1] for a in minilm} >= {
        "config.json", "model.safetensors", "tokenizer.json", "vocab.txt"}
    for asset in minilm:  # real URLs, only fetched with --extra
        assert asset["url"].startswith(
            "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/")
        assert asset["extra"] is True
