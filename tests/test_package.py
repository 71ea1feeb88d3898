"""project.yml's `package` command builds en_dtn_clinical and a wheel of spacy_dtn into
packages/; pip installs the two files into a fresh virtual environment (the README's two
lines), where `spacy.load("en_dtn_clinical")` finds Chemical and Disease entities.

The fresh venv reuses the test environment's third-party packages (torch, spaCy, ...) through a
``.pth`` file that adds a site dir of links to this environment's site-packages (``python -m
venv --system-site-packages`` would only reach the base interpreter's), so nothing is
downloaded. The links leave out spacy_dtn (its editable install's finder, ``.pth`` and
metadata): there, ``import spacy_dtn`` fails until the wheel from packages/ is installed, and
the model's requirement ``spacy_dtn>=...`` is met by that wheel alone.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import spacy
import srsly

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def _package_commands(config: str, workdir: Path):
    """The script of project.yml's `package` command, its vars filled in, run from ``workdir``."""
    project = srsly.read_yaml(ROOT / "project.yml")
    for directory in project["directories"]:  # `spacy project run` creates them
        (workdir / directory).mkdir(parents=True, exist_ok=True)
    variables = dict(project["vars"], config=config)
    command = next(c for c in project["commands"] if c["name"] == "package")
    lines = []
    for line in command["script"]:
        line = re.sub(r"\$\{vars\.(\w+)\}", lambda m: str(variables[m.group(1)]), line)
        args = shlex.split(line)
        args = [str(ROOT / a) if a.startswith("scripts/") else a for a in args]
        if args[0] == "python":
            args[0] = sys.executable
        lines.append(args)
    return variables, lines


def _is_spacy_dtn(entry: Path) -> bool:
    """Whether a site-packages entry is (or installs) spacy_dtn: the package, its metadata, an
    editable install's finder and ``.pth``, a legacy ``.egg-link``, or a ``.pth`` naming this
    repository."""
    name = entry.name.lower().replace("-", "_")
    if name.startswith(("spacy_dtn", "__editable__.spacy_dtn", "__editable___spacy_dtn")):
        return True
    if entry.suffix == ".pth" and entry.is_file():
        return str(ROOT) in entry.read_text(encoding="utf8", errors="replace")
    return False


def fresh_venv_without_spacy_dtn(tmp_path: Path) -> Path:
    """The python of a new venv (no pip of its own) that sees this environment's packages, but
    not spacy_dtn, through a site dir of links to them."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    links = tmp_path / "parent-site-packages"
    links.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not _is_spacy_dtn(entry):
            (links / entry.name).symlink_to(entry)
    Path(site, "_parent_env.pth").write_text(f"import site; site.addsitedir({str(links)!r})\n")
    return python


def test_package_installs_in_a_fresh_venv_and_loads_without_source(trained, tmp_path):
    nlp, target, _, _ = trained
    config = "tiny"
    variables, commands = _package_commands(config, tmp_path)
    (tmp_path / "training" / config).mkdir()
    nlp.to_disk(tmp_path / "training" / config / "model-best")
    best_meta = tmp_path / "training" / config / "model-best" / "meta.json"
    performance = {"ents_f": 0.625, "ents_p": 0.7, "ents_r": 0.5}  # as spacy train writes it
    srsly.write_json(best_meta, {**srsly.read_json(best_meta), "performance": performance})
    for args in commands:
        result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])

    name = f"{variables['lang']}_{variables['name']}"
    assert name == "en_dtn_clinical"
    version = variables["version"]
    dist = tmp_path / "packages" / f"{name}-{version}" / "dist"
    sdist = dist / f"{name}-{version}.tar.gz"
    assert sdist.exists(), list(dist.iterdir())
    meta = srsly.read_json(tmp_path / "packages" / f"{name}-{version}" / name / "meta.json")
    assert any(req.startswith("spacy_dtn") for req in meta["requirements"]), meta["requirements"]
    # what the model is, from the pipeline and the project's vars
    assert meta["spacy_dtn"]["labels"] == ["Chemical", "Disease"]
    assert meta["description"].startswith("Chemical and Disease NER")
    assert "10 % of BC5CDR" in meta["description"] and "from NCBI-disease" in meta["description"]
    assert [s["name"] for s in meta["sources"]] == ["BC5CDR (BioCreative V CDR)", "NCBI-disease"]
    assert all(s["license"] == "CC BY 4.0" for s in meta["sources"])
    # the training's scores, kept from model-best
    assert meta["performance"] == pytest.approx(performance)
    # The saved model holds target parameters only.
    final = spacy.load(tmp_path / "training" / config / "model-final")
    assert final.get_pipe("dtn_ner").label_data == {"target": ["Chemical", "Disease"]}

    wheels = sorted((tmp_path / "packages").glob("spacy_dtn-*.whl"))
    assert len(wheels) == 1, list((tmp_path / "packages").iterdir())
    project = srsly.read_yaml(ROOT / "project.yml")
    outputs = next(c for c in project["commands"] if c["name"] == "package")["outputs"]
    assert f"packages/{wheels[0].name}" in outputs  # the wheel project.yml says it writes

    python = fresh_venv_without_spacy_dtn(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run_there = lambda args, **kw: subprocess.run(  # noqa: E731  (outside the repository)
        [str(python), *args], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=600, **kw)
    before = run_there(["-c", "import spacy_dtn"])
    assert before.returncode != 0 and "No module named 'spacy_dtn'" in before.stderr, (
        "the fresh venv must not see the test environment's spacy_dtn", before.stderr[-2000:])
    # The README's two lines, offline (--no-index; the sdist builds with this env's setuptools)
    for built in (wheels[0], sdist):
        install = run_there(["-m", "pip", "install", "--no-index", "--no-build-isolation",
                             str(built.relative_to(tmp_path))])
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]

    texts = [eg.reference.text for eg in target[:16]]
    code = (
        "import json, sys, spacy\n"
        "nlp = spacy.load('en_dtn_clinical')\n"
        "import en_dtn_clinical\n"
        "ner = nlp.get_pipe('dtn_ner')\n"
        "keys = list(ner.network.state_dict())\n"
        "ents = [(e.text, e.label_) for doc in nlp.pipe(json.load(sys.stdin)) for e in doc.ents]\n"
        "import spacy_dtn\n"
        "print(json.dumps({'file': en_dtn_clinical.__file__, 'tasks': ner.tasks,\n"
        "    'spacy_dtn': spacy_dtn.__file__,\n"
        "    'source_keys': [k for k in keys if 'source' in k], 'n_keys': len(keys),\n"
        "    'ents': ents}))\n"
    )
    run = run_there(["-c", code], input=json.dumps(texts))
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    venv = tmp_path / "venv"
    assert out["file"].startswith(str(venv))  # the installed package, not a path on disk
    assert out["spacy_dtn"].startswith(str(venv)), out["spacy_dtn"]  # from the wheel
    assert "site-packages" in out["spacy_dtn"]
    assert out["tasks"] == ["target"]
    assert out["n_keys"] > 0 and out["source_keys"] == []
    labels = {label for _, label in out["ents"]}
    assert labels and labels <= {"Chemical", "Disease"}, out["ents"]
