"""Pipelines saved before the model owned its network load and predict as they did.

The fixtures in ``fixtures/pipeline-0.1.0`` were saved by the earlier code (see
``fixtures/make_pipeline_0_1_0.py``), with the entities they predicted then.
"""
import json
from pathlib import Path

import pytest
import spacy

from dtn_helpers import corpus_path
from spacy_dtn.tools.benchmark.data import make_docs, read_sentences

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline-0.1.0"
TARGET_ONLY = {"target": ["Chemical", "Disease"]}
WITH_SOURCE = {**TARGET_ONLY, "source": ["Disease"]}


@pytest.fixture(scope="module")
def test_sentences():
    return read_sentences(corpus_path("bc5cdr", "test.tsv"), 50)


def entities(nlp, sentences):
    docs = nlp.pipe(make_docs(nlp, sentences))
    return [[[e.start, e.end, e.label_] for e in doc.ents] for doc in docs]


def expected(name: str):
    return json.loads((FIXTURES / name / "entities.json").read_text(encoding="utf8"))


@pytest.mark.parametrize(
    "name,labels", [("v2-dtn", WITH_SOURCE), ("v1-dropped", TARGET_ONLY)]
)
def test_an_old_pipeline_predicts_the_entities_it_did(name, labels, test_sentences, tmp_path):
    nlp = spacy.load(FIXTURES / name)
    ner = nlp.get_pipe("dtn_ner")
    assert ner.label_data == labels
    assert entities(nlp, test_sentences) == expected(name)
    # Saved again, it is a pipeline of today's format, and the same.
    nlp.to_disk(tmp_path / name)
    assert json.loads((tmp_path / name / "dtn_ner" / "cfg").read_text()) == {"spans_key": None}
    again = spacy.load(tmp_path / name)
    assert again.get_pipe("dtn_ner").label_data == labels
    assert entities(again, test_sentences) == expected(name)


def test_drop_source_on_loading_an_old_pipeline(test_sentences):
    full = spacy.load(FIXTURES / "v2-dtn")
    n_full = sum(p.numel() for p in full.get_pipe("dtn_ner").network.parameters())
    nlp = spacy.load(FIXTURES / "v2-dtn", config={"components": {"dtn_ner": {"drop_source": True}}})
    ner = nlp.get_pipe("dtn_ner")
    assert ner.label_data == TARGET_ONLY
    assert sum(p.numel() for p in ner.network.parameters()) < n_full
    assert entities(nlp, test_sentences) == expected("v2-dtn")
