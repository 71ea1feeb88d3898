"""Label maps: which source label is which target label, checked against the corpora.

A source's outputs are tied to the target's where a label map pairs their labels (its
``O`` and start symbol then too, :func:`tied_tags`); a source that ties some labels but not
all annotates the rest only partially (:func:`unannotated_labels`). Torch-free, as
:mod:`spacy_dtn.iobes`.
"""
from typing import Any, Dict, List, Sequence, Union

from .iobes import TagSet

#: A label map: None, ``"name"``, one ``{source label: target label}`` table for every source,
#: or a table per source task ``{source task: {source label: target label}}``.
LabelMap = Union[None, str, Dict[str, Any]]


def _is_per_source(label_map: LabelMap) -> bool:
    """Whether ``label_map`` is a table per source task (every value a table)."""
    if not isinstance(label_map, dict) or not label_map:
        return False
    nested = [isinstance(value, dict) for value in label_map.values()]
    if any(nested) and not all(nested):
        raise ValueError(
            "label_map mixes a table per source with label pairs: give either "
            "{source label: target label} for every source or {source task: {source label: "
            f"target label}}, got {label_map!r}"
        )
    return all(nested)


def source_label_map(label_map: LabelMap, source: str) -> LabelMap:
    """The part of ``label_map`` that applies to the source task ``source``.

    A table per source gives the source's own table (None for a source it does not name:
    that source's outputs stay its own); ``"name"`` and a single table apply to every source.
    """
    if _is_per_source(label_map):
        return label_map.get(source)
    return label_map


def check_label_map(label_map: LabelMap, labels: Dict[str, Sequence[str]], target: str) -> None:
    """Refuse a label map that names a task or a label that no corpus has (one line).

    ``labels``: each task's entity labels, the target's under ``target``. A pair that names
    a source label no source has, or a target label the target lacks, is a typo that would
    otherwise tie nothing and train on silently.
    """
    if label_map is None or label_map == "name":
        return
    if not isinstance(label_map, dict):
        raise ValueError(
            "label_map must be null, 'name', a {source label: target label} table or a "
            f"{{source task: {{source label: target label}}}} table, got {label_map!r}"
        )
    sources = {task: list(task_labels) for task, task_labels in labels.items() if task != target}
    target_labels = set(labels[target])
    if _is_per_source(label_map):
        tables = []
        for task, table in label_map.items():
            if task not in sources:
                raise ValueError(
                    f"label_map names the source task {task!r}, but the sources are "
                    f"{sorted(sources) or 'none'}"
                )
            tables.append((f"source {task!r}", set(sources[task]), table))
    else:
        every = {label for task_labels in sources.values() for label in task_labels}
        tables = [("any source", every, label_map)]
    for where, source_labels, table in tables:
        for source_label, target_label in table.items():
            if source_label not in source_labels:
                raise ValueError(
                    f"label_map: {source_label!r} is not a label of {where} (labels: "
                    f"{', '.join(sorted(source_labels)) or 'none'})"
                )
            if target_label not in target_labels:
                raise ValueError(
                    f"label_map: {source_label!r} -> {target_label!r}, but the target's labels "
                    f"are {', '.join(sorted(target_labels))}"
                )


def unannotated_labels(
    source_labels: Sequence[str], target_labels: Sequence[str], label_map: LabelMap
) -> List[str]:
    """The target labels a source with tied outputs does not annotate (sorted).

    Empty when the source ties no label. Where the source ties at least one label it reads
    the target's output rows, and a token outside its entities may still be an entity of one
    of these labels (NCBI-disease annotates no chemicals): partial annotation.
    """
    pairs = label_pairs(source_labels, target_labels, label_map) if label_map else {}
    if not pairs:
        return []
    return sorted(set(target_labels) - set(pairs.values()))


def label_pairs(
    source_labels: Sequence[str],
    target_labels: Sequence[str],
    label_map: Union[str, Dict[str, str]],
) -> Dict[str, str]:
    """Which source label is which target label: ``"name"`` pairs equal names, a dict is
    taken as given (pairs naming a label a task does not have are left out)."""
    if label_map == "name":
        return {label: label for label in source_labels if label in target_labels}
    if isinstance(label_map, dict):
        return {s: t for s, t in label_map.items() if s in source_labels and t in target_labels}
    raise ValueError(
        "label_map must be null, 'name' or a {source label: target label} table, "
        f"got {label_map!r}"
    )


def tied_tags(source: TagSet, target: TagSet, label_map: LabelMap) -> List[int]:
    """For each source tag (then the start symbol) the target tag it is, or -1.

    With at least one label pair, ``O`` and the start symbol are tied as well: both tasks then
    read the same output row for "no entity here".
    """
    pairs = label_pairs(source.labels, target.labels, label_map)
    if not pairs:
        return [-1] * (len(source) + 1)
    ties = []
    for tag in source.tags:
        if tag == "O":
            ties.append(target.index["O"])
            continue
        prefix, label = tag.split("-", 1)
        mapped = pairs.get(label)
        ties.append(target.index[f"{prefix}-{mapped}"] if mapped is not None else -1)
    ties.append(target.start)
    return ties
