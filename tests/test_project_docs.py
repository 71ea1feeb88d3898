"""README's project section is what ``spacy project document`` generates from project.yml, and
the corpus files the docs name are the ones the project writes."""
import re
import subprocess
import sys
from pathlib import Path

from weasel.util import load_project_config

ROOT = Path(__file__).parents[1]
BLOCK = re.compile(r"<!-- WEASEL: AUTO-GENERATED DOCS START.*?END \(do not remove\) -->", re.S)
#: weasel links a local asset's path when its folder exists on this machine: not content.
LOCAL_LINK = re.compile(r"\[(`[^`]+`)\]\([^)]+\)")


def block(text: str) -> str:
    return LOCAL_LINK.sub(r"\1", BLOCK.search(text).group(0))


def test_readme_project_section_is_up_to_date(tmp_path):
    out = tmp_path / "generated.md"
    done = subprocess.run([sys.executable, "-m", "spacy", "project", "document", str(ROOT),
                           "--output", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    generated = out.read_text(encoding="utf8")
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    assert BLOCK.search(readme), "README.md lost its auto-generated docs block"
    assert block(generated) == block(readme), (
        "README.md is out of date: run spacy project document --output README.md")


def test_ci_installs_with_the_readme_quick_start_line_and_runs_its_test_command():
    """The README's install line is the one scripts/test.sh (and so .ci/run) uses."""
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    quick = re.search(r'pip install -e "(\.\[[^\]]*\])"', readme).group(1)
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf8")
    assert f'install -q -e "{quick}"' in test_sh
    assert "bash scripts/test.sh" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf8")
    assert "scripts/test.sh" in ci and "pip install" not in ci


CORPUS_FILE = re.compile(r"corpus/([\w.-]+)/([\w.-]+\.spacy)")


def misnamed_corpus_files(paths) -> list:
    """``NAME: corpus/...`` for each corpus file named in PATHS that the project does not write,
    in a corpus folder it writes, or in a folder named as an abbreviation of one
    (``corpus/ncbi/`` for ``corpus/ncbi-disease/``). Other folders are the reader's own
    conversions (``corpus/i2b2/``), as the docs show them."""
    project = load_project_config(ROOT)  # the ${vars} filled in
    written = {out for command in project["commands"] for out in command.get("outputs", [])
               if out.startswith("corpus/")}
    folders = {out.split("/")[1] for out in written}
    wrong = []
    for path in paths:
        for folder, name in CORPUS_FILE.findall(path.read_text(encoding="utf8")):
            named = f"corpus/{folder}/{name}"
            if named in written:
                continue
            if folder in folders or any(f.startswith(folder) for f in folders):
                wrong.append(f"{path.name}: {named}")
    return wrong


def test_the_docs_name_the_corpus_files_the_project_writes():
    """The project's subsample is corpus/TARGET/train-FRACTION.spacy, its source corpus/ncbi-
    disease/train.spacy: a doc that names another file sends the reader to a missing one."""
    assert misnamed_corpus_files([ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]) == []


def test_the_check_finds_the_names_the_project_does_not_write(tmp_path):
    doc = tmp_path / "misnamed.md"
    doc.write_text("--paths.target corpus/bc5cdr/train-10.spacy --paths.source corpus/ncbi/"
                   "train.spacy corpus/bc5cdr/train-0.1.spacy corpus/i2b2/train.spacy",
                   encoding="utf8")
    assert misnamed_corpus_files([doc]) == [
        "misnamed.md: corpus/bc5cdr/train-10.spacy", "misnamed.md: corpus/ncbi/train.spacy"]


def test_the_config_headers_name_the_corpus_files_the_project_writes():
    assert misnamed_corpus_files(sorted((ROOT / "configs").glob("*.cfg"))) == []
