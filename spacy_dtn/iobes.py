"""The one IOBES codec: tag sets, BILUO <-> IOBES, tags <-> ids <-> spans, validity.

spaCy speaks BILUO (``Example.get_aligned_ner``, ``doc_to_biluo_tags``); the network and the
evaluation speak IOBES (``L`` is ``E``, ``U`` is ``S``). Everything that converts between
them, encodes gold tags as ids, decodes predicted ids into spans or checks a sequence goes
through this module (the component, the network, ``evaluate``, ``gates`` and the converters).
It needs neither torch nor spaCy (numpy only), so parsing a tag does not load the network:
the masks are numpy arrays, which :mod:`spacy_dtn.nn` turns into tensors.
"""
import re
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy

PREFIXES = ("B", "I", "E", "S")
_BILUO_TO_IOBES = {"B": "B", "I": "I", "L": "E", "U": "S"}
_IOBES_TO_BILUO = {iobes: biluo for biluo, iobes in _BILUO_TO_IOBES.items()}
Span = Tuple[int, int, str]  # start, end (exclusive), label

#: A prefix letter, a hyphen and a label of printable characters: whitespace or a control
#: character (NUL from a damaged file) in a label is damage, not a new entity type.
_TAG = re.compile(r"^([A-Z])-([^\s\x00-\x1f\x7f]+)$")


def split_tag(tag: str) -> Tuple[str, str]:
    """``"B-PER"`` → ``("B", "PER")``; ``"O"`` → ``("O", "")``; anything else → ``("", "")``.

    ``O`` takes no label: ``"O-X"`` is unknown (``("", "")``), not outside, or it would pass the
    check and reach spaCy's ``iob_to_biluo``, which reads it as an entity ``X``.
    """
    if tag == "O":
        return "O", ""
    m = _TAG.match(tag)
    if m is None or m.group(1) == "O":
        return "", ""
    return m.group(1), m.group(2)


def biluo_to_iobes(tag: str) -> str:
    """``U-X`` -> ``S-X``, ``L-X`` -> ``E-X``; ``B``, ``I`` and ``O`` as they are."""
    prefix, dash, label = tag.partition("-")
    return _BILUO_TO_IOBES.get(prefix, prefix) + dash + label


def iobes_to_biluo(tag: str) -> str:
    """``S-X`` -> ``U-X``, ``E-X`` -> ``L-X``; ``B``, ``I`` and ``O`` as they are."""
    prefix, dash, label = tag.partition("-")
    return _IOBES_TO_BILUO.get(prefix, prefix) + dash + label


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

    def transition_mask(self) -> numpy.ndarray:
        """``mask[prev, cur]`` is True where tag ``cur`` may follow ``prev`` (or the start)."""
        n = len(self.tags)
        mask = numpy.zeros((n + 1, n), dtype=bool)
        for prev in range(n + 1):
            prev_tag = self.tags[prev] if prev < n else "O"
            for cur, tag in enumerate(self.tags):
                mask[prev, cur] = _may_follow(prev_tag, tag)
        return mask

    def encode(self, biluo_tags: Sequence[Optional[str]]) -> List[int]:
        """Tag ids of BILUO tags (``Example.get_aligned_ner``); -1 where a tag is missing
        (None, ``-``) or names a label this task does not have."""
        return [-1 if tag is None or tag == "-" else self.index.get(biluo_to_iobes(tag), -1)
                for tag in biluo_tags]

    def encode_iob(self, iob: numpy.ndarray, labels: Sequence[str]) -> numpy.ndarray:
        """Tag ids (int64) from a doc's entity codes, as :meth:`encode` gives for its tags.

        ``iob``: spaCy's ``ENT_IOB`` per token (0 missing, 1 inside, 2 outside, 3 begin);
        ``labels``: each token's entity label ("" outside). Vectorised: the per-token Python
        of ``Example.get_aligned_ner`` was a tenth of a training step. -1 where the tag is
        missing or its label is not this task's.
        """
        iob = numpy.asarray(iob)
        inside, begin = iob == 1, iob == 3
        continues = numpy.append(inside[1:], False)  # the next token is inside this entity
        # offsets of B, I, E, S within a label's four tags
        offset = numpy.where(begin, numpy.where(continues, 0, 3), numpy.where(continues, 1, 2))
        label_ids = {label: 1 + 4 * i for i, label in enumerate(self.labels)}
        first = numpy.array([label_ids.get(label, -1) for label in labels], dtype="int64")
        ids = numpy.where(first >= 0, first + offset, -1)
        ids = numpy.where(iob == 2, 0, ids)
        return numpy.where(iob == 0, -1, ids).astype("int64")

    def decode(self, ids: Sequence[int]) -> List[Span]:
        """The entities of a valid id sequence (the decoder's output), in order."""
        spans, start = [], 0
        for i, tag_id in enumerate(ids):
            tag = self.tags[int(tag_id)]
            if tag[0] in "BS":
                start = i
            if tag[0] in "ES":
                spans.append((start, i + 1, tag[2:]))
        return spans

    def end_mask(self) -> numpy.ndarray:
        """``mask[cur]`` is True where a sentence may end with tag ``cur`` (O, E-x, S-x)."""
        return numpy.array([t == "O" or t[0] in "ES" for t in self.tags], dtype=bool)


def _may_follow(prev: str, cur: str) -> bool:
    if prev == "O" or prev[0] in "ES":
        return cur == "O" or cur[0] in "BS"
    return cur[0] in "IE" and cur[2:] == prev[2:]


def iobes_error(tags: Sequence[str]) -> Optional[Tuple[int, str]]:
    """The index of the first tag that makes ``tags`` invalid IOBES and why, or None."""
    parts = [split_tag(tag) for tag in tags] + [("O", "")]
    for i, (prefix, label) in enumerate(parts[:-1]):
        if prefix == "O":
            continue
        if prefix not in PREFIXES:
            return i, f"unknown tag {tags[i]!r} for scheme IOBES"
        prev_prefix, prev_label = parts[i - 1] if i > 0 else ("O", "")
        if prefix in ("I", "E") and not (prev_prefix in ("B", "I") and prev_label == label):
            return i, f"tag {tags[i]!r} continues nothing (IOBES needs B-{label} first)"
        next_prefix, next_label = parts[i + 1]
        if prefix in ("B", "I") and not (next_prefix in ("I", "E") and next_label == label):
            return i, f"tag {tags[i]!r} is not closed by E-{label} (IOBES)"
    return None


def is_valid_iobes(tags: Sequence[str]) -> bool:
    """Whether a tag sequence is well formed IOBES."""
    return iobes_error(tags) is None
