"""The `sharing` setting: which scheme each of the three components uses.

A TTN code is three letters in the order character encoder, word encoder, decoder:
``I`` independent, ``H`` hard, ``S`` soft (3³ = 27 codes). ``dtn`` gates all three sharing
schemes in every component (eq. 1-4), ``dtn_hs`` gates hard and soft only (eq. 1-2).
``baseline`` trains the target task alone. ``T-B`` and ``T-C`` are Yang et al.'s presets.
"""
import itertools
from typing import Tuple

COMPONENTS = ("char", "word", "decoder")
SCHEMES = ("I", "H", "S", "dtn", "dtn_hs")
PRESETS = {"T-B": "HHI", "T-C": "HII"}
TTN_CODES = tuple("".join(c) for c in itertools.product("IHS", repeat=3))
SHARING_CHOICES = ("dtn", "dtn_hs", "baseline") + tuple(PRESETS) + TTN_CODES


def parse_sharing(sharing: str) -> Tuple[Tuple[str, str, str], bool]:
    """Return the scheme of each component and whether source tasks take part.

    >>> parse_sharing("HIS")
    (('H', 'I', 'S'), True)
    """
    name = sharing.strip()
    if name in ("dtn", "dtn_hs"):
        return (name, name, name), True
    if name == "baseline":
        return ("I", "I", "I"), False
    code = PRESETS.get(name, name.upper())
    if code in TTN_CODES:
        return (code[0], code[1], code[2]), True
    raise ValueError(
        f"Unknown sharing setting {sharing!r}: expected 'dtn', 'dtn_hs', 'baseline', 'T-B', "
        "'T-C' or a TTN code of three letters from I, H, S (char encoder, word encoder, "
        "decoder), e.g. 'HIS'."
    )
