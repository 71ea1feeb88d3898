"""The character encoder and the word encoder, each a :class:`SharedComponent` of BiLSTMs."""
from typing import Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .packing import Packing
from .sharing import Gates, SharedComponent


class CharEncoder(nn.Module):
    """Characters of each distinct word → ``h_c = [→h_last ; ←h_last]`` (paper, "Encoders").

    The character embedding table is shared by all tasks, like the word embeddings; the
    BiLSTMs follow the component's sharing scheme. The gates see the word-level output and,
    as ``a``, the mean of the word's character embeddings.
    """

    def __init__(
        self,
        scheme: str,
        target: str,
        sources: Sequence[str],
        n_buckets: int,
        char_embed: int,
        char_hidden: int,
    ):
        super().__init__()
        self.embed = nn.Embedding(n_buckets, char_embed, padding_idx=0)
        self.width = 2 * char_hidden

        def make_rnn() -> nn.Module:
            return nn.LSTM(char_embed, char_hidden, batch_first=True, bidirectional=True)

        self.shared = SharedComponent(scheme, make_rnn, target, sources, self.width, char_embed)

    def forward(
        self, task: str, char_ids: torch.Tensor, char_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """``char_ids`` (U, L), 0-padded; ``char_lengths`` (U,) on the CPU, as packing wants."""
        emb = self.embed(char_ids)
        present = (char_ids != 0).unsqueeze(-1).to(emb.dtype)
        a = (emb * present).sum(1) / present.sum(1).clamp(min=1.0)
        packed = pack_padded_sequence(emb, char_lengths, batch_first=True, enforce_sorted=False)
        outputs = []
        for lstm in self.shared.paths(task):
            _, (h_n, _) = lstm(packed)
            outputs.append(torch.cat([h_n[0], h_n[1]], dim=-1))
        return self.shared.combine(task, outputs, a)


class WordEncoder(nn.Module):
    """``m_t = [h_c ; emb_word(x_t)]`` → ``h_t = [→h_t ; ←h_t]`` at every position."""

    def __init__(
        self, scheme: str, target: str, sources: Sequence[str], in_width: int, word_hidden: int
    ):
        super().__init__()
        self.width = 2 * word_hidden

        def make_rnn() -> nn.Module:
            return nn.LSTM(in_width, word_hidden, batch_first=True, bidirectional=True)

        self.shared = SharedComponent(scheme, make_rnn, target, sources, self.width, in_width)

    def forward(self, task: str, m: torch.Tensor, packing: Packing) -> Tuple[torch.Tensor, Gates]:
        """``m`` (N, in_width) in packed order → (N, width) in packed order."""
        sequence = packing.pack(m)
        outputs = [lstm(sequence)[0].data for lstm in self.shared.paths(task)]
        return self.shared.combine(task, outputs, m)
