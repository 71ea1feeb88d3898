"""A linear-chain CRF over IOBES tags, on the packed layout (:mod:`.packing`).

The paper's decoder feeds the previous tag into an LSTM and decodes greedily, so a wrong
early tag cannot be revised and training never scores a whole tag sequence. The CRF output
(``decoder = "crf"``) scores every tag sequence as the sum of its per-token emissions and
tag-to-tag transitions, trains on the sequence's log-likelihood and decodes with Viterbi.
Invalid IOBES transitions (``I-x`` after ``O``, a sentence ending in ``B-x`` ...) get a large
negative score, so training and decoding only ever weigh valid sequences.

Tokens are packed: step ``t`` is the contiguous block of the ``steps[t]`` sentences (ranks)
still running, longest first, so each step is one slice and one small batched operation.
Gold tags may be -1 (unknown): the likelihood then sums over every tag such a token could
have (partial annotation), which is exact, not an approximation.
"""
from typing import List, Tuple

import torch

from ..iobes import TagSet

# The score of a forbidden transition: far below any reachable score, but finite, so that a
# log-sum-exp over forbidden paths only stays finite (no NaN in the gradient).
FORBIDDEN = -1e4


def tag_masks(tagset: TagSet) -> Tuple[torch.Tensor, torch.Tensor]:
    """The tag set's valid transitions (n + 1, n) and valid last tags (n,), as bool tensors
    (:class:`spacy_dtn.iobes.TagSet` keeps them in numpy, torch-free)."""
    return torch.from_numpy(tagset.transition_mask()), torch.from_numpy(tagset.end_mask())


def constrained_scores(
    transitions: torch.Tensor, end: torch.Tensor, allowed: torch.Tensor, end_ok: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairwise (n, n), start (n,) and end (n,) scores with the IOBES constraints applied.

    ``transitions`` (n + 1, n): row ``i`` scores tag ``i`` followed by each tag; the last row
    scores the sentence's first tag. ``end`` (n,) scores each tag as the last one.
    ``allowed`` (n + 1, n) and ``end_ok`` (n,) are :class:`~.iobes.TagSet`'s masks.
    """
    scores = transitions.masked_fill(~allowed, FORBIDDEN)
    return scores[:-1], scores[-1], end.masked_fill(~end_ok, FORBIDDEN)


def log_partition(
    emissions: torch.Tensor,
    steps: List[int],
    pair: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """``log Σ_y exp score(y)`` per sentence, (B,) in rank order; ``emissions`` (N, n) packed."""
    alpha = start + emissions[: steps[0]]
    finished = []
    offset = steps[0]
    for k in steps[1:]:
        if k < alpha.shape[0]:
            finished.append(alpha[k:])  # these ranks ended at the previous step
        alpha = torch.logsumexp(alpha[:k, :, None] + pair, dim=1) + emissions[offset: offset + k]
        offset += k
    finished.append(alpha)
    return torch.logsumexp(torch.cat(finished[::-1]) + end, dim=-1)


def negative_log_likelihood(
    emissions: torch.Tensor,
    gold: torch.Tensor,
    steps: List[int],
    pair: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """``Σ_sentences −log P(gold)``; ``gold`` (N,) packed tag ids, -1 where unknown.

    With every tag known the numerator is the gold sequence's score. Otherwise it is the
    partition function restricted to the sequences that agree with every known tag, so
    unknown tokens are summed over.
    """
    total = log_partition(emissions, steps, pair, start, end).sum()
    known = gold >= 0
    if bool(known.all()):
        return total - _sequence_score(emissions, gold, steps, pair, start, end)
    agrees = torch.zeros_like(emissions, dtype=torch.bool)
    agrees[known, gold[known]] = True
    agrees[~known] = True
    restricted = emissions.masked_fill(~agrees, FORBIDDEN)
    return total - log_partition(restricted, steps, pair, start, end).sum()


def _sequence_score(
    emissions: torch.Tensor,
    tags: torch.Tensor,
    steps: List[int],
    pair: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """The summed scores of the given tag sequences (packed tag ids, all known)."""
    sizes = torch.tensor(steps)
    # Packed position p at step t > 0 follows position p - steps[t - 1] (the same rank).
    previous = torch.arange(steps[0], len(tags)) - torch.repeat_interleave(sizes[:-1], sizes[1:])
    # A rank's last position: at step t, the ranks from steps[t + 1] on end there.
    time = torch.repeat_interleave(torch.arange(len(steps)), sizes)
    rank = torch.arange(len(tags)) - (torch.cumsum(sizes, 0) - sizes)[time]
    following = torch.cat([sizes[1:], sizes.new_zeros(1)])[time]
    previous, last = previous.to(tags.device), (rank >= following).to(tags.device)
    return (
        emissions.gather(1, tags[:, None]).sum()
        + start[tags[: steps[0]]].sum()
        + pair[tags[previous], tags[steps[0]:]].sum()
        + end[tags[last]].sum()
    )


def viterbi(
    emissions: torch.Tensor,
    steps: List[int],
    pair: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """The best tag sequence of every sentence, as tag ids (N,) in packed order."""
    score = start + emissions[: steps[0]]
    backpointers, last_tags = [], []
    offset = steps[0]
    for t, k in enumerate(steps):
        if t > 0:
            best, previous = (score[:k, :, None] + pair).max(dim=1)
            backpointers.append(previous)
            score = best + emissions[offset: offset + k]
            offset += k
        ending = steps[t + 1] if t + 1 < len(steps) else 0
        last_tags.append((score[ending:k] + end).argmax(dim=-1))
    tags = torch.empty(emissions.shape[0], dtype=torch.long, device=emissions.device)
    current = last_tags[-1]
    for t in range(len(steps) - 1, -1, -1):
        if t < len(steps) - 1:
            current = torch.cat([current, last_tags[t]])
        offset -= steps[t]
        tags[offset: offset + steps[t]] = current
        if t > 0:
            current = backpointers[t - 1].gather(1, current[:, None]).squeeze(1)
    return tags
