"""The two systems, initialised the same way for every benchmark (``dtn_ner`` with a source
task and spaCy's ``ner``), and their parameter counts."""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import spacy
from spacy.language import Language
from spacy.training import Example

from ...component import DTNEntityRecognizer
from ...tasks import SOURCE
from .data import DTN, NER, Sentence, make_examples


def init_dtn(
    sentences: Sequence[Sentence], source: Sequence[Sentence], vectors: Optional[Path]
) -> Language:
    """``dtn_ner`` with its default config (sharing=dtn, paper sizes), target + source task."""
    nlp = spacy.blank("en")
    nlp.add_pipe(DTN)
    return _initialize(nlp, make_examples(nlp, sentences) + make_examples(nlp, source, SOURCE),
                       vectors)


def init_ner(sentences: Sequence[Sentence], vectors: Optional[Path]) -> Language:
    """spaCy's ``ner`` from the efficiency config of ``spacy init config -p ner``."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=[NER], optimize="efficiency")
    # What `spacy init config` writes when vectors are given: the same vectors setting as dtn_ner.
    config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] = bool(vectors)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    return _initialize(nlp, make_examples(nlp, sentences), vectors)


def _initialize(nlp: Language, examples: List[Example], vectors: Optional[Path]) -> Language:
    if vectors is not None:
        from spacy.training.initialize import load_vectors_into_model

        load_vectors_into_model(nlp, str(vectors))
    nlp.initialize(lambda: examples)
    return nlp


def system_kind(nlp: Language) -> str:
    """``dtn_ner`` if the pipeline has a dtn_ner component, ``ner`` if it has spaCy's ner."""
    factories = [nlp.get_pipe_meta(name).factory for name in nlp.pipe_names]
    for kind in (DTN, NER):
        if kind in factories:
            return kind
    raise ValueError(f"pipeline has neither dtn_ner nor ner (components: {nlp.pipe_names})")


def count_parameters(nlp: Language) -> Dict[str, int]:
    """Trainable numbers per component: Thinc params plus, for ``dtn_ner``, its network's."""
    counts = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None:
            continue
        total = 0
        for node in model.walk():
            total += sum(node.get_param(p).size for p in node.param_names if node.has_param(p))
        if isinstance(pipe, DTNEntityRecognizer):
            total += sum(p.numel() for p in pipe.network.parameters())
        counts[name] = int(total)
    counts["total"] = sum(counts.values())
    return counts


def dtn_pipe(nlp: Language):
    """The pipeline's ``dtn_ner`` component (the first, if it has several)."""
    return nlp.get_pipe(next(n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == DTN))


def dtn_parameters(nlp: Language) -> Dict[str, Any]:
    """Parameter counts before and after ``drop_source_task()`` (drops it: call it last)."""
    pipe = dtn_pipe(nlp)
    before = {"network": sum(p.numel() for p in pipe.network.parameters()),
              **count_parameters(nlp)}
    pipe.drop_source_task()
    after = {"network": sum(p.numel() for p in pipe.network.parameters()),
             **count_parameters(nlp)}
    return {"before_drop": before, "after_drop": after,
            "dropped": before["total"] - after["total"]}
