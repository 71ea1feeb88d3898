"""README's project section is what ``spacy project document`` generates from project.yml."""
import re
import subprocess
import sys
from pathlib import Path

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
