"""IOBES tag sets and the transitions that keep a decoded sequence valid."""
from typing import Iterable, List, Sequence

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
