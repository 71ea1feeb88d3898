"""Token-level entity tags: detect and check IOB1 / IOB2 / IOBES, and turn Docs back into tags.

Conversion to spans goes through spaCy's own BILUO helpers (``iob_to_biluo``,
``biluo_tags_to_spans``, ``doc_to_biluo_tags``); what spaCy does not do, and this module adds,
is telling the schemes apart and refusing sequences that are not valid in the scheme they
claim (an ``I-`` that continues nothing in IOB2 is a corpus bug, not a new entity).
"""

from typing import Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.training import biluo_to_iob, iob_to_biluo
from spacy.training.iob_utils import doc_to_biluo_tags

from ..iobes import biluo_to_iobes, iobes_error, iobes_to_biluo, split_tag

SCHEMES = ("IOB1", "IOB2", "IOBES")
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "IOBES": "BIES"}


def normalise_scheme(scheme: Optional[str]) -> Optional[str]:
    """Accept ``iob``/``bio`` as IOB2 and ``bilou``-style names as IOBES; ``None`` = detect."""
    if scheme is None:
        return None
    key = scheme.upper().replace("-", "")
    aliases = {"IOB": "IOB2", "BIO": "IOB2", "IOBES": "IOBES", "BIOES": "IOBES"}
    key = aliases.get(key, key)
    if key not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return key


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a corpus from its tag sequences.

    ``E-``/``S-`` tags mean IOBES. Otherwise a ``B-X`` that does not follow an ``X`` tag can
    only be IOB2 (IOB1 uses ``B-`` solely between two adjacent entities of one type), and an
    ``I-X`` that starts an entity can only be IOB1. A corpus showing neither reads the same in
    both; it is reported as IOB2. Unknown tags are ignored here and rejected later.
    """
    fresh_b = fresh_i = False
    for tags in sentences:
        prev_label = ""
        for tag in tags:
            prefix, label = split_tag(tag)
            if prefix in ("E", "S"):
                return "IOBES"
            if prefix == "B" and label != prev_label:
                fresh_b = True
            elif prefix == "I" and label != prev_label:
                fresh_i = True
            prev_label = label if prefix in ("B", "I") else ""
    if fresh_b:
        return "IOB2"
    if fresh_i:
        return "IOB1"
    return "IOB2"


def find_tag_error(tags: Sequence[str], scheme: str) -> Optional[Tuple[int, str]]:
    """The index of the first tag that is invalid in ``scheme`` and why, or ``None``."""
    if scheme == "IOBES":
        return iobes_error(tags)
    allowed = _PREFIXES[scheme]
    for i, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        if prefix == "O":
            continue
        if not prefix or prefix not in allowed:
            return i, f"unknown tag {tag!r} for scheme {scheme}"
        prev_prefix, prev_label = split_tag(tags[i - 1]) if i > 0 else ("O", "")
        opened = prev_prefix in ("B", "I") and prev_label == label
        if scheme == "IOB2" and prefix == "I" and not opened:
            return i, f"tag {tag!r} continues nothing (IOB2 needs B-{label} first)"
    return None


def to_biluo(tags: Sequence[str], scheme: str) -> List[str]:
    """BILUO tags for a sequence already checked by :func:`find_tag_error`."""
    if scheme == "IOBES":
        return [iobes_to_biluo(t) for t in tags]
    # spaCy's iob_to_biluo starts an entity at any tag that does not continue the previous
    # one, which is exactly the IOB1 rule and also right for (valid) IOB2.
    return iob_to_biluo(list(tags))


def from_biluo(tags: Sequence[str], scheme: str = "IOB2") -> List[str]:
    """BILUO tags rewritten in ``scheme`` (IOB1, IOB2 or IOBES)."""
    scheme = normalise_scheme(scheme) or "IOB2"
    if scheme == "IOBES":
        return [biluo_to_iobes(t) for t in tags]
    iob2 = biluo_to_iob(list(tags))
    if scheme == "IOB2":
        return iob2
    out = []
    prev_label = ""
    for tag in iob2:
        prefix, label = split_tag(tag)
        if prefix == "B" and label != prev_label:
            tag = "I-" + label
        out.append(tag)
        prev_label = label if prefix in ("B", "I") else ""
    return out


def docs_to_iob(docs: Iterable[Doc], scheme: str = "IOB2", missing: str = "O") -> List[List[str]]:
    """One list of tags per Doc from ``doc.ents`` (the inverse of the column converters).

    ``missing`` is the tag for tokens whose entity annotation is missing (e.g. OntoNotes
    ``pt/``); spaCy's convention is ``"-"``, the default ``"O"`` suits most evaluation tools.
    """
    return [from_biluo(doc_to_biluo_tags(doc, missing=missing), scheme) for doc in docs]
