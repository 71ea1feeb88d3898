"""The character encoder and the word encoder, each a :class:`SharedComponent` of BiLSTMs."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from . import recurrence
from .packing import Packing
from .sharing import Gates, SharedComponent


class CharEncoder(nn.Module):
    """Characters of each distinct word → ``h_c = [→h_last ; ←h_last]`` (paper, "Encoders").

    The character embedding table is shared by all tasks, like the word embeddings; the
    BiLSTMs follow the component's sharing scheme. The gates see the word-level output and,
    as ``a``, the mean of the word's character embeddings.

    A word's encoding depends on its characters and the weights only, and at inference on
    small batches the character BiLSTMs are the costliest part of the network (per-step
    overhead, three paths). So at inference on the CPU (eval mode, no gradient; on an
    accelerator the keys would cost a copy to the host per batch) each encoded word is
    kept in a cache (:class:`WordCache`), keyed by task and character ids, and only unseen
    words are encoded. The cache is emptied whenever the weights differ from those it was
    filled with (compared in full before each batch: Thinc writes optimizer updates through
    ``.data`` and swaps averaged parameters in with ``load_state_dict``, so neither
    ``train()`` calls, which Thinc makes after every prediction too, nor version counters
    tell), and on device or dtype moves.
    """

    def __init__(
        self, scheme: str, *, target: str, sources: Sequence[str], n_buckets: int,
        char_embed: int, char_hidden: int,
    ):
        super().__init__()
        self.embed = nn.Embedding(n_buckets, char_embed, padding_idx=0)
        self.width = 2 * char_hidden

        def make_rnn() -> nn.Module:
            return nn.LSTM(char_embed, char_hidden, batch_first=True, bidirectional=True)

        self.shared = SharedComponent(scheme, make_rnn, target=target, sources=sources,
                                      out_width=self.width, gate_input_width=char_embed)
        # Plain attributes, never saved: the caches by task and the weights they hold for.
        self.caches: Dict[str, WordCache] = {}
        self.cached_weights: Optional[torch.Tensor] = None
        self.cached_in_inference_mode = False

    def forward(
        self, task: str, char_ids: torch.Tensor, char_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """``char_ids`` (U, L), 0-padded; ``char_lengths`` (U,) on the CPU, as packing wants."""
        if self.training or torch.is_grad_enabled() or char_ids.device.type != "cpu":
            return self.encode(task, char_ids, char_lengths)
        return self._cached(task, char_ids, char_lengths)

    def _cached(
        self, task: str, char_ids: torch.Tensor, char_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """:meth:`encode` through the cache: only the words it lacks are encoded."""
        self._check_cache()
        cache = self.caches.get(task)
        if cache is None:
            cache = self.caches[task] = WordCache()
        keys = WordCache.keys(char_ids, char_lengths)
        missing = cache.missing(keys)
        if missing:
            index = torch.tensor(missing)
            lengths = char_lengths[index]
            ids = char_ids[index.to(char_ids.device), : int(lengths.max())]
            h_c, gates = self.encode(task, ids, lengths)
            cache.add([keys[i] for i in missing], h_c, gates)
        return cache.lookup(keys)

    def _check_cache(self) -> None:
        """Empty the caches unless the weights are exactly those they were filled with.

        Also when switching in or out of inference mode: a tensor made there cannot be
        written to outside it.
        """
        weights = torch.cat([p.detach().reshape(-1) for p in self.parameters()])
        inference_mode = torch.is_inference_mode_enabled()
        held = self.cached_weights
        if (
            held is None
            or inference_mode != self.cached_in_inference_mode
            or held.shape != weights.shape
            or not torch.equal(held, weights)
        ):
            self.caches = {}
            self.cached_weights = weights
            self.cached_in_inference_mode = inference_mode

    def _apply(self, *args, **kwargs):
        self.caches, self.cached_weights = {}, None
        return super()._apply(*args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):
        # called for this module by any ancestor's load_state_dict
        self.caches, self.cached_weights = {}, None
        return super()._load_from_state_dict(*args, **kwargs)

    def encode(
        self, task: str, char_ids: torch.Tensor, char_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """The encodings (U, width) of the words ``char_ids`` and their gates, computed."""
        emb = self.embed(char_ids)
        present = (char_ids != 0).unsqueeze(-1).to(emb.dtype)
        a = (emb * present).sum(1) / present.sum(1).clamp(min=1.0)
        paths = self.shared.paths(task)
        if recurrence.fused(emb):
            in_word = torch.arange(char_ids.shape[1]) < char_lengths[:, None]
            packing = Packing.from_lengths(char_lengths, emb.device)
            chars = emb[in_word.to(emb.device)][packing.gather]
            outputs = recurrence.final_states(
                paths, chars, packing.steps, packing.unsorted_indices
            )
            return self.shared.combine(task, outputs, a)
        packed = pack_padded_sequence(emb, char_lengths, batch_first=True, enforce_sorted=False)
        outputs = []
        for lstm in paths:
            _, (h_n, _) = lstm(packed)
            outputs.append(torch.cat([h_n[0], h_n[1]], dim=-1))
        return self.shared.combine(task, outputs, a)


class WordCache:
    """One task's encoded words, by character ids, for :class:`CharEncoder` at inference.

    The values are rows of one growing table (encoding and gate values side by side), so a
    batch's words are read with one index. Past ``max_words`` words the cache starts afresh.
    """

    max_words = 100_000

    def __init__(self):
        self.rows: Dict[bytes, int] = {}
        self.table: Optional[torch.Tensor] = None
        self.gate_names: List[str] = []
        self.width = 0

    @staticmethod
    def keys(char_ids: torch.Tensor, char_lengths: torch.Tensor) -> List[bytes]:
        """One key per word: the word's character ids without the padding."""
        ids = char_ids.cpu().numpy()
        return [ids[i, :n].tobytes() for i, n in enumerate(char_lengths.tolist())]

    def missing(self, keys: List[bytes]) -> List[int]:
        """Positions of the keys not in the cache."""
        if len(self.rows) + len(keys) > self.max_words:
            self.rows, self.table = {}, None
        rows = self.rows
        return [i for i, key in enumerate(keys) if key not in rows]

    def add(self, keys: List[bytes], encodings: torch.Tensor, gates: Gates) -> None:
        self.gate_names = list(gates)
        self.width = encodings.shape[1]
        values = torch.cat([encodings] + [g[:, None] for g in gates.values()], dim=1)
        start = len(self.rows)
        if self.table is None:
            self.table = values.new_empty(max(1024, 2 * len(keys)), values.shape[1])
        elif start + len(keys) > self.table.shape[0]:
            grown = self.table.new_empty(2 * (start + len(keys)), self.table.shape[1])
            grown[:start] = self.table[:start]
            self.table = grown
        self.table[start: start + len(keys)] = values
        for j, key in enumerate(keys):
            self.rows[key] = start + j

    def lookup(self, keys: List[bytes]) -> Tuple[torch.Tensor, Gates]:
        """The encodings (U, width) and gate values of the keys, all in the cache."""
        rows = self.rows
        index = torch.tensor([rows[key] for key in keys], device=self.table.device)
        values = self.table[index]
        width = self.width
        gates = {name: values[:, width + j] for j, name in enumerate(self.gate_names)}
        return values[:, :width], gates


class WordEncoder(nn.Module):
    """``m_t = [h_c ; emb_word(x_t)]`` → ``h_t = [→h_t ; ←h_t]`` at every position."""

    def __init__(
        self, scheme: str, *, target: str, sources: Sequence[str], in_width: int,
        word_hidden: int,
    ):
        super().__init__()
        self.width = 2 * word_hidden

        def make_rnn() -> nn.Module:
            return nn.LSTM(in_width, word_hidden, batch_first=True, bidirectional=True)

        self.shared = SharedComponent(scheme, make_rnn, target=target, sources=sources,
                                      out_width=self.width, gate_input_width=in_width)

    def forward(self, task: str, m: torch.Tensor, packing: Packing) -> Tuple[torch.Tensor, Gates]:
        """``m`` (N, in_width) in packed order → (N, width) in packed order."""
        paths = self.shared.paths(task)
        if recurrence.fused(m):
            outputs = recurrence.sequence_outputs(paths, m, packing.steps)
        elif len(packing.steps) == m.shape[0]:
            # One sentence: as a plain batch of one, which nn.LSTM runs with less overhead
            # than a PackedSequence (the same values: packed order is then token order).
            outputs = [lstm(m[None])[0][0] for lstm in paths]
        else:
            sequence = packing.pack(m)
            outputs = [lstm(sequence)[0].data for lstm in paths]
        return self.shared.combine(task, outputs, m)
