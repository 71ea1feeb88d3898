"""How an example says which task it belongs to.

The DTN trains one target task and one or more source tasks at once, one task per batch.
The task travels with the gold `Doc` of each `Example`, in ``example.reference.user_data``
under :data:`TASK_KEY`. The reader ``spacy_dtn.TransferCorpus.v1`` sets it; an example without
it is a target example, so ``dtn_ner`` also trains through plain ``nlp.initialize`` and
``nlp.update`` like any spaCy component.
"""
import warnings
from typing import Dict, Iterable, List, Sequence

from spacy.tokens import Doc
from spacy.training import Example

TASK_KEY = "dtn_task"
TARGET = "target"
SOURCE = "source"


def set_task(doc: Doc, task: str) -> Doc:
    """Mark a gold `Doc` (``example.reference``) as belonging to ``task``."""
    doc.user_data[TASK_KEY] = task
    return doc


def get_task(example: Example) -> str:
    """The task of an example: its mark, or ``"target"`` when it has none."""
    return example.reference.user_data.get(TASK_KEY, TARGET)


def batch_task(examples: Iterable[Example]) -> str:
    """The single task of a batch; a batch that mixes tasks is an error (one task per batch)."""
    tasks: List[str] = sorted({get_task(eg) for eg in examples})
    if len(tasks) != 1:
        raise ValueError(
            f"dtn_ner expects every batch to hold one task, got {tasks}. Use the batcher "
            "'spacy_dtn.batch_by_task.v1' (or update on one task at a time)."
        )
    return tasks[0]


def skip_batch(
    counts: Dict[str, int], component: str, sharing: str, trained: Sequence[str], task: str
) -> None:
    """Count a batch of ``task`` that ``component`` leaves out, its sharing setting giving the
    task no parameters (``baseline`` trains the target only); a ``UserWarning`` the first time.

    Both components report skipped batches this way: the warning, and ``counts`` as their
    ``skipped_batches``.
    """
    if task not in counts:
        warnings.warn(
            f"{component}: sharing {sharing!r} trains the tasks {list(trained)}; batches of "
            f"task {task!r} are skipped (counted in .skipped_batches)"
        )
    counts[task] = counts.get(task, 0) + 1
