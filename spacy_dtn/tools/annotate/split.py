"""Long notes: windows of at most ``max_chars`` characters, cut at a sentence end or a space,
so that a note longer than the model's comfortable length is annotated piece by piece."""
import re
from typing import List, Tuple

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
_WHITESPACE = re.compile(r"\s+")


def _last_match_end(pattern: re.Pattern, window: str) -> int:
    end = 0
    for match in pattern.finditer(window):
        end = match.end()
    return end


def _cut(window: str) -> int:
    """Where to end a piece within ``window``: after the last blank line, else line break,
    else sentence end, else whitespace, preferring one in the window's second half (no tiny
    pieces); a hard cut at the window's end only when it holds no whitespace at all."""
    candidates = []
    for finder in (lambda w: w.rfind("\n\n") + 2 if "\n\n" in w else 0,
                   lambda w: w.rfind("\n") + 1,
                   lambda w: _last_match_end(_SENTENCE_END, w),
                   lambda w: _last_match_end(_WHITESPACE, w)):
        cut = finder(window)
        if cut >= len(window) // 2:
            return cut
        candidates.append(cut)
    return max(candidates) or len(window)


def split_text(text: str, max_chars: int) -> List[Tuple[int, str]]:
    """``(offset, piece)`` pieces of at most ``max_chars`` characters that concatenate to
    ``text``, cut at paragraph, line, sentence or word boundaries.

    Why: a Doc and the DTN's activations cost ~13 KB per token (measured), so one 50,000-token note
    would need more than half a gigabyte at once (and the DTN's LSTMs would run 50,000 steps,
    which is also slow); pieces of a few thousand characters, in batches bounded by
    characters (:func:`char_batches`), keep memory bounded. Entities are shifted back by the
    piece's offset. ``max_chars <= 0`` never splits.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return [(0, text)]
    pieces, start = [], 0
    while len(text) - start > max_chars:
        end = start + _cut(text[start:start + max_chars])
        pieces.append((start, text[start:end]))
        start = end
    pieces.append((start, text[start:]))
    return pieces
