"""spaCy's own tools on the project's configs: ``python -m spacy debug config`` passes on each.

``debug config`` builds the pipeline and resolves the readers; the readers only open their
files when called, so paths that do not exist pass, and the train reader takes a null
``paths.target``. A null ``paths.dev`` does not pass: spaCy's ``spacy.Corpus.v1`` refuses it
when resolved (E913), on spaCy's own configs as on these. The two fine-tuning configs source
their components from ``paths.pretrained``, a pipeline that must exist: a tiny one of their
first stage's config is built here.
"""
import subprocess
import sys
from pathlib import Path

import pytest
from spacy import util
from spacy.tokens import Doc, Span
from spacy.training import Example

ROOT = Path(__file__).parents[1]
CONFIGS = sorted(path.name for path in (ROOT / "configs").glob("*.cfg"))

#: The configs that source their pipeline from ``paths.pretrained``, and the config of the
#: stage that trains that pipeline.
FIRST_STAGE = {"dtn_ft.cfg": "dtn.cfg", "ner_pool_ft.cfg": "ner_pooled.cfg",
               "ner_self_ft.cfg": "ner_pooled.cfg"}
#: The one path spaCy's tools need: the dev reader is spaCy's own, which refuses null.
DEV = {"paths.dev": "corpus/bc5cdr/dev.spacy"}


def debug_config(name: str, overrides: dict) -> subprocess.CompletedProcess:
    """``python -m spacy debug config configs/NAME`` with ``--key value`` overrides."""
    args = [arg for key, value in overrides.items() for arg in (f"--{key}", str(value))]
    return subprocess.run([sys.executable, "-m", "spacy", "debug", "config",
                           f"configs/{name}", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def first_stage_pipeline(name: str, path: Path) -> Path:
    """A pipeline of ``configs/NAME`` initialized on one sentence (no vectors), saved at PATH."""
    overrides = {**DEV, "paths.vectors": None}
    if name == "ner_pooled.cfg":  # spaCy's tok2vec: no vectors to include
        overrides["components.tok2vec.model.embed.include_static_vectors"] = False
    config = util.load_config(ROOT / "configs" / name, overrides=overrides)
    nlp = util.load_model_from_config(config, auto_fill=True)
    doc = Doc(nlp.vocab, words=["Aspirin", "induced", "asthma", "."])
    doc.ents = [Span(doc, 0, 1, "Chemical"), Span(doc, 2, 3, "Disease")]
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc)])
    nlp.to_disk(path)
    return path


def test_the_configs_that_source_a_pipeline_are_known():
    """A component ``source = ${paths.pretrained}`` needs that pipeline to exist for spaCy's
    tools; ``dtn_tb.cfg`` reads the path only when initialised, and it defaults to null."""
    texts = {name: (ROOT / "configs" / name).read_text(encoding="utf8") for name in CONFIGS}
    sourcing = {name for name, text in texts.items() if "source = ${paths.pretrained}" in text}
    assert sourcing == set(FIRST_STAGE)
    reading = {name for name, text in texts.items() if "${paths.pretrained}" in text}
    assert reading - sourcing == {"dtn_tb.cfg"}


@pytest.mark.parametrize("name", CONFIGS)
def test_debug_config_passes_given_a_dev_path(name, tmp_path):
    overrides = dict(DEV)
    if name in FIRST_STAGE:
        overrides["paths.pretrained"] = first_stage_pipeline(FIRST_STAGE[name], tmp_path / "p")
    out = debug_config(name, overrides)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Config is valid" in out.stdout

