"""A saved pipeline for the commands (evaluate, annotate, gates, visualize), loaded with its
failures as one line: each command raises them as its own error class, which its CLI prints
and exits 1 on; and the fingerprint of its weights, to tell which model wrote an output."""
import hashlib
from pathlib import Path
from typing import Type, Union

import spacy
from spacy.language import Language


def one_line(err: BaseException) -> str:
    """The first sentence of an error, on one line (spaCy's messages run on with advice)."""
    text = " ".join(str(err).split())
    return text.split(". ")[0].rstrip(".") if text else type(err).__name__


def load_pipeline(model: Union[str, Path], error: Type[Exception]) -> Language:
    """``spacy.load(model)`` (a directory or an installed package); a missing or unloadable
    model raises ``error`` with one line that names it.

    spaCy takes a ``Path`` for a directory only, so ``model`` is given to it as a string: a
    package name that reached here as a ``Path`` loads all the same."""
    if not Path(model).exists() and not spacy.util.is_package(str(model)):
        raise error(
            f"Model not found: {model} is neither a directory nor an installed package")
    try:
        return spacy.load(str(model))
    except Exception as err:  # a broken or foreign directory: say which and why, in one line
        raise error(f"Can't load the pipeline {model}: {one_line(err)}") from None


def weights_fingerprint(nlp: Language) -> str:
    """The SHA-256 (hex) of what a pipeline predicts with: each component's bytes (its weights
    and settings) and the static vectors.

    Not ``nlp.to_bytes()``: its meta and config change with a packaging (name, version) that
    leaves the predictions alone, and the vocab's strings grow as texts are processed. The
    same weights give the same fingerprint wherever and however often they are loaded.
    """
    digest = hashlib.sha256()
    for name, component in nlp.components:
        if hasattr(component, "to_bytes"):
            digest.update(name.encode("utf8"))
            digest.update(component.to_bytes(exclude=["vocab"]))
    digest.update(nlp.vocab.vectors.to_bytes(exclude=["strings"]))
    return digest.hexdigest()
