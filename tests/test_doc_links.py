"""Every relative link in README.md and docs/*.md leads somewhere, and the README stays short.

The README sends a newcomer to the guides in docs/ and to BENCHMARKS.md for every figure; a
link to a file that was moved or renamed, or to a heading whose words changed, is a dead end
that no other test notices. Anchors follow GitHub's rule for heading ids, so a link that works
here works on GitHub.
"""
import re
import subprocess
import unicodedata
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: The issue-39 budget for README.md, the generated project block included: one screen of
#: what a user needs to decide and to start, the rest in docs/.
README_MAX_BYTES = 12_000

FENCE = re.compile(r"^(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")
#: ``[text](target)`` and ``![alt](target)``; the text may hold brackets of one level.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: weasel's generated block links commands and assets to weasel's docs and, on a machine that
#: has the asset folders, to local paths: it is checked against project.yml elsewhere.
GENERATED = re.compile(r"<!-- WEASEL: AUTO-GENERATED DOCS START.*?END \(do not remove\) -->", re.S)


def doc_files() -> list:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str, blank_code_spans: bool = True) -> str:
    """TEXT with fenced code blocks, code spans and the generated block blanked out, every
    newline kept so that offsets still give line numbers. A link's text may wrap onto the next
    line, so links are found in this whole text, not line by line."""
    text = GENERATED.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    lines, fenced = [], False
    for line in text.split("\n"):
        if FENCE.match(line.strip()):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    text = "\n".join(lines)
    if not blank_code_spans:  # a heading's code spans are part of its id
        return text
    return CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def slug(heading: str) -> str:
    """GitHub's id for a heading: lower case, markup and punctuation dropped (letters, digits,
    ``_``, ``-`` and spaces stay), each space a hyphen. ``→`` and ``%`` vanish, so
    "NCBI-disease → BC5CDR 10 %, three seeds" is ``ncbi-disease--bc5cdr-10--three-seeds``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").lower()
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "-_ " or category[0] in "LN" or category == "Mn":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set:
    """The ids of PATH's headings; repeated ones numbered as GitHub numbers them (x, x-1)."""
    seen = {}
    ids = set()
    for line in prose(path.read_text(encoding="utf8"), blank_code_spans=False).split("\n"):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        ids.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return ids


def broken_links(paths, root: Path = ROOT) -> list:
    """``FILE:LINE: target (why)`` for each relative link in PATHS that leads nowhere: a missing
    file, a link out of ROOT, a path git ignores (what the workflows write: a fresh clone does
    not have it), or a ``#anchor`` that no heading of the target markdown file has. Links with
    a scheme (``https:``, ``mailto:``) are not followed."""
    root = root.resolve()
    found = []  # (where, target file relative to root, anchor)
    broken = []
    for path in paths:
        name = path.resolve().relative_to(root).as_posix()
        text = prose(path.read_text(encoding="utf8"))
        for match in LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue
            number = text.count("\n", 0, match.start(1)) + 1
            where = f"{name}:{number}: {target}"
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
            try:
                inside = resolved.relative_to(root)
            except ValueError:
                broken.append(f"{where} (outside the repository)")
                continue
            found.append((where, inside, anchor))
    ignored = ignored_by_git(root, [inside for _, inside, _ in found])
    for where, inside, anchor in found:
        resolved = root / inside
        if inside in ignored:
            broken.append(f"{where} (ignored by git: a fresh clone does not have it)")
        elif not resolved.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{where} (no heading #{anchor} in {inside.as_posix()})")
    return broken


def ignored_by_git(root: Path, paths) -> set:
    """The PATHS (relative to ROOT) that git ignores and does not track: none outside a git
    checkout (an unpacked sdist has no ignored paths to fall into)."""
    paths = sorted(set(paths))
    if not paths or not (root / ".git").exists():
        return set()
    done = subprocess.run(["git", "-C", str(root), "check-ignore", "--stdin"],
                          input="\n".join(p.as_posix() for p in paths), capture_output=True,
                          text=True)
    assert done.returncode in (0, 1), done.stderr  # 1: none ignored
    return {Path(line) for line in done.stdout.splitlines() if line}


def test_every_relative_link_in_the_readme_and_docs_resolves():
    assert broken_links(doc_files()) == []


def test_the_readme_fits_its_budget():
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_MAX_BYTES, (
        f"README.md is {size:,} bytes, over {README_MAX_BYTES:,}: move detail to docs/")


def test_the_slug_is_githubs():
    """Ids as GitHub gives them to this project's own headings."""
    assert slug("Default workflow (spacy project run all)") == (
        "default-workflow-spacy-project-run-all")
    assert slug("NCBI-disease → BC5CDR 10 %, three seeds") == (
        "ncbi-disease--bc5cdr-10--three-seeds")
    assert slug("The component `dtn_ner`") == "the-component-dtn_ner"
    assert slug("Against spaCy's transformer `ner`") == "against-spacys-transformer-ner"


def test_the_check_finds_broken_links(tmp_path):
    """A missing file, a missing heading (also behind a link whose text wraps), a path out of
    the repository and an ignored one are reported; a link in a code block or code span, an
    external URL and a good anchor are not."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.spacy").write_text("", encoding="utf8")
    (tmp_path / ".gitignore").write_text("corpus/\n", encoding="utf8")
    (tmp_path / "docs" / "guide.md").write_text("# A guide\n\n## Its part\n", encoding="utf8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[good](docs/guide.md#its-part) [top](#title) [web](https://example.com/x.md)\n"
        "# Title\n"
        "[gone](docs/missing.md) [no heading](docs/guide.md#elsewhere) [up](../x.md)\n"
        "`[in a span](nowhere.md)` ![data](corpus/train.spacy) [a link that\n"
        "wraps](docs/guide.md#its-whole) ``a `[code](span.md)` ``\n"
        "```\n[in a block](nowhere.md)\n```\n", encoding="utf8")
    assert broken_links([readme], root=tmp_path) == [
        "README.md:3: ../x.md (outside the repository)",
        "README.md:3: docs/missing.md (no such file)",
        "README.md:3: docs/guide.md#elsewhere (no heading #elsewhere in docs/guide.md)",
        "README.md:4: corpus/train.spacy (ignored by git: a fresh clone does not have it)",
        "README.md:5: docs/guide.md#its-whole (no heading #its-whole in docs/guide.md)",
    ]
