"""spacy_dtn: Dynamic Transfer Networks for low-resource NER as a spaCy component.

Everything is registered through entry points (``dtn_ner``, ``spacy_dtn.DTNTagger.v2``,
``spacy_dtn.TransferCorpus.v1``, ``spacy_dtn.batch_by_task.v1``), so configs and
``spacy.load`` work without importing this package. The task helpers are loaded on first
use: importing a subpackage (the pure-PyTorch :mod:`spacy_dtn.nn`, the torch-free
:mod:`spacy_dtn.iobes`) runs this file and must not pull in spaCy.
"""
from importlib import import_module

__version__ = "0.1.0"
__all__ = ["get_task", "set_task", "TARGET", "SOURCE", "__version__"]
_TASKS = ("get_task", "set_task", "TARGET", "SOURCE")


def __getattr__(name: str):
    """``spacy_dtn.set_task`` and the other names of :mod:`spacy_dtn.tasks`, imported lazily."""
    if name in _TASKS:
        return getattr(import_module(".tasks", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
