"""The layout of a batch of sentences, flat and packed, computed once per batch.

Sentences arrive *flat*: their tokens concatenated, sentence after sentence, with no
padding. Recurrent layers want them *packed*: time-major, sentences sorted by length
(longest first), so that step ``t`` is the contiguous block of the ``batch_sizes[t]``
sentences still running. Keeping the word encoder's output and the decoder in the packed
layout means no work is spent on padding, and the greedy decoder's step ``t`` is a slice.
"""
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence


@dataclass
class Packing:
    batch_sizes: torch.Tensor  # (T,) CPU, as PackedSequence requires
    sorted_indices: torch.Tensor  # (B,) sentence of each rank
    unsorted_indices: torch.Tensor  # (B,) rank of each sentence
    gather: torch.Tensor  # (N,) flat position of each packed position: packed = flat[gather]
    scatter: torch.Tensor  # (N,) packed position of each flat position: flat = packed[scatter]
    starts: torch.Tensor  # (B,) flat position of each sentence's first token
    steps: list  # batch_sizes as Python ints, for the decoder's loop

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor, device: torch.device) -> "Packing":
        """``lengths`` (B,) on the CPU, all > 0; index tensors are moved to ``device`` once."""
        if lengths.shape[0] == 1:
            return cls._one(int(lengths[0]), device)
        return cls._general(lengths, device)

    @classmethod
    def _general(cls, lengths: torch.Tensor, device: torch.device) -> "Packing":
        sorted_lengths, sorted_indices = torch.sort(lengths, descending=True, stable=True)
        n_steps = int(sorted_lengths[0])
        batch_sizes = (sorted_lengths[None, :] > torch.arange(n_steps)[:, None]).sum(1)
        starts = torch.cumsum(lengths, 0) - lengths
        time = torch.repeat_interleave(torch.arange(n_steps), batch_sizes)
        offsets = torch.cumsum(batch_sizes, 0) - batch_sizes
        rank = torch.arange(time.shape[0]) - offsets[time]
        gather = starts[sorted_indices[rank]] + time
        scatter = torch.empty_like(gather)
        scatter[gather] = torch.arange(gather.shape[0])
        return cls(
            batch_sizes=batch_sizes,
            sorted_indices=sorted_indices.to(device),
            unsorted_indices=torch.argsort(sorted_indices).to(device),
            gather=gather.to(device),
            scatter=scatter.to(device),
            starts=starts.to(device),
            steps=batch_sizes.tolist(),
        )

    def pack(self, packed_data: torch.Tensor) -> PackedSequence:
        """Wrap data already in packed order for an ``nn.LSTM``."""
        return PackedSequence(
            packed_data, self.batch_sizes, self.sorted_indices, self.unsorted_indices
        )

    @classmethod
    def _one(cls, n: int, device: torch.device) -> "Packing":
        """The layout of a single sentence of ``n`` tokens (packed order is token order),
        without the general case's sorting and arithmetic: batches of one are common at
        inference, where this is a noticeable share of a sentence's time."""
        positions = torch.arange(n, device=device)
        zero = torch.zeros(1, dtype=torch.long)
        return cls(
            batch_sizes=torch.ones(n, dtype=torch.long),
            sorted_indices=zero.to(device),
            unsorted_indices=zero.to(device),
            gather=positions,
            scatter=positions,
            starts=zero.to(device),
            steps=[1] * n,
        )
