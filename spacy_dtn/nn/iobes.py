"""IOBES tag sets and the transitions that keep a decoded sequence valid."""
from typing import Dict, Iterable, List, Sequence, Union

import torch

PREFIXES = ("B", "I", "E", "S")


class TagSet:
    """The tags of one task: ``O`` first, then ``B/I/E/S`` for each label in sorted order.

    Row ``len(tags)`` of :meth:`transition_mask` stands for the start of a sentence.
    """

    def __init__(self, labels: Iterable[str]):
        self.labels: List[str] = sorted(set(labels))
        self.tags: List[str] = ["O"] + [f"{p}-{label}" for label in self.labels for p in PREFIXES]
        self.index = {tag: i for i, tag in enumerate(self.tags)}

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def start(self) -> int:
        """Index of the start-of-sentence symbol fed to the decoder at step 0."""
        return len(self.tags)

    def transition_mask(self) -> torch.Tensor:
        """``mask[prev, cur]`` is True where tag ``cur`` may follow ``prev`` (or the start)."""
        n = len(self.tags)
        mask = torch.zeros(n + 1, n, dtype=torch.bool)
        for prev in range(n + 1):
            prev_tag = self.tags[prev] if prev < n else "O"
            for cur, tag in enumerate(self.tags):
                mask[prev, cur] = _may_follow(prev_tag, tag)
        return mask

    def end_mask(self) -> torch.Tensor:
        """``mask[cur]`` is True where a sentence may end with tag ``cur`` (O, E-x, S-x)."""
        return torch.tensor([t == "O" or t[0] in "ES" for t in self.tags], dtype=torch.bool)


def _may_follow(prev: str, cur: str) -> bool:
    if prev == "O" or prev[0] in "ES":
        return cur == "O" or cur[0] in "BS"
    return cur[0] in "IE" and cur[2:] == prev[2:]


def is_valid_iobes(tags: Sequence[str]) -> bool:
    """Whether a tag sequence is well formed IOBES (used by tests and checks)."""
    prev = "O"
    for tag in tags:
        if not _may_follow(prev, tag):
            return False
        prev = tag
    return prev == "O" or prev[0] in "ES"


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


def tied_tags(source: TagSet, target: TagSet, label_map: Union[str, Dict[str, str]]) -> List[int]:
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
