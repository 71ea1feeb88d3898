"""spacy_dtn: Dynamic Transfer Networks for low-resource NER as a spaCy component.

Everything is registered through entry points (``dtn_ner``, ``spacy_dtn.DTNTagger.v1``,
``spacy_dtn.TransferCorpus.v1``, ``spacy_dtn.batch_by_task.v1``), so configs and
``spacy.load`` work without importing this package.
"""
from .tasks import SOURCE, TARGET, get_task, set_task

__version__ = "0.1.0"
__all__ = ["get_task", "set_task", "TARGET", "SOURCE", "__version__"]
