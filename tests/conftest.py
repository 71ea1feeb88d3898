"""Shared fixtures: one small DTN pipeline trained on real slices of ../shared/data."""
import pytest
import spacy
from thinc.api import fix_random_seed

from dtn_helpers import read_examples, train_steps


@pytest.fixture(scope="session")
def trained():
    """A DTN pipeline trained 60 steps on 32 BC5CDR (target) and 64 NCBI (source) sentences."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner")
    target = read_examples(nlp, "bc5cdr", "train", 32)
    source = read_examples(nlp, "ncbi-disease", "train", 64, task="source")
    nlp.initialize(lambda: target + source)
    history = train_steps(nlp, target, source, steps=60)
    return nlp, target, source, history
