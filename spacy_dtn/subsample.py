"""Seeded subsampling of a corpus: the same items for the same seed on any machine.

The selection ranks items by a SHA-256 digest of ``"{seed}:{index}"`` and keeps the lowest
``round(fraction * n)`` (at least one when ``n > 0`` and ``fraction > 0``), in corpus order.
It depends on nothing but the seed, the fraction and the number of items: no RNG stream whose
algorithm could change between Python or NumPy versions.
"""
import hashlib
from typing import List, Sequence, TypeVar

T = TypeVar("T")


def subsample_indices(n: int, fraction: float, seed: int) -> List[int]:
    """Indices (sorted) of the items kept out of ``n``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    k = int(round(fraction * n))
    if n > 0 and fraction > 0 and k == 0:
        k = 1
    ranked = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return sorted(ranked[:k])


def subsample(items: Sequence[T], fraction: float, seed: int) -> List[T]:
    """The items kept by :func:`subsample_indices`, in their original order."""
    return [items[i] for i in subsample_indices(len(items), fraction, seed)]
