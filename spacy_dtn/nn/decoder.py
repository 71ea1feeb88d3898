"""The LSTM decoder: ``o_t = LSTM(o_{t-1}, [h_t ; tagemb(y_{t-1})])``, ``P(y_t) = softmax(W o_t + b)``.

Training feeds the gold previous tag (teacher forcing) and runs each LSTM over the whole
sequence at once. Inference is greedy and step by step, restricted to valid IOBES
transitions; it reuses the same LSTM weights through an explicit cell so that the part of
the input known in advance (``h_t``) is projected once for all steps, and the previous tag's
contribution is a row lookup in a precomputed table.
"""
from typing import Dict, Sequence, Tuple

import torch
from torch import nn

from .packing import Packing
from .sharing import Gates, SharedComponent


class Decoder(nn.Module):
    def __init__(
        self,
        scheme: str,
        target: str,
        sources: Sequence[str],
        tag_counts: Dict[str, int],
        in_width: int,
        tag_embed: int,
        hidden: int,
    ):
        super().__init__()
        self.in_width = in_width
        # Each task has its own tag embedding (with a start symbol) and output layer.
        self.tag_embed = nn.ModuleDict(
            {task: nn.Embedding(n + 1, tag_embed) for task, n in tag_counts.items()}
        )
        self.output = nn.ModuleDict({task: nn.Linear(hidden, n) for task, n in tag_counts.items()})

        def make_rnn() -> nn.Module:
            return nn.LSTM(in_width + tag_embed, hidden, batch_first=True)

        self.shared = SharedComponent(
            scheme, make_rnn, target, sources, hidden, in_width + tag_embed
        )

    def teacher_forced(
        self, task: str, h: torch.Tensor, prev_tags: torch.Tensor, packing: Packing
    ) -> Tuple[torch.Tensor, Gates]:
        """Decoder states (N, hidden) for known previous tags; everything in packed order."""
        x = torch.cat([h, self.tag_embed[task](prev_tags)], dim=-1)
        sequence = packing.pack(x)
        outputs = [lstm(sequence)[0].data for lstm in self.shared.paths(task)]
        return self.shared.combine(task, outputs, x)

    def greedy(
        self,
        task: str,
        h: torch.Tensor,
        packing: Packing,
        allowed: torch.Tensor,
        end_ok: torch.Tensor,
    ) -> Tuple[torch.Tensor, Gates]:
        """Greedy decoding of ``h`` (N, in_width), packed; returns tags (N,) in packed order.

        In the packed layout the sentences still running at step ``t`` are the first
        ``steps[t]`` ranks, and their inputs a contiguous slice. ``allowed`` (n+1, n) holds
        the valid transitions from each tag or the start; ``end_ok`` (n,) the tags a
        sentence may end with. Gate values come back per position, packed.
        """
        embed = self.tag_embed[task]
        output = self.output[task]
        start = embed.num_embeddings - 1
        cells = []
        for lstm in self.shared.paths(task):
            w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
            pre = torch.addmm(bias, h, w_ih[:, : self.in_width].t())
            table = torch.matmul(embed.weight, w_ih[:, self.in_width :].t())
            cells.append((pre, table, w_hh.t()))
        n_rows, hidden = packing.steps[0], w_hh.shape[1]
        states = [(h.new_zeros(n_rows, hidden), h.new_zeros(n_rows, hidden)) for _ in cells]
        prev = torch.full((n_rows,), start, dtype=torch.long, device=h.device)
        tags = torch.empty(h.shape[0], dtype=torch.long, device=h.device)
        gate_values: Dict[str, torch.Tensor] = {}
        steps = packing.steps
        offset = 0
        for t, k in enumerate(steps):
            prev = prev[:k]
            rows = slice(offset, offset + k)
            outputs = []
            for i, (pre, table, w_hh_t) in enumerate(cells):
                h_p, c_p = states[i][0][:k], states[i][1][:k]
                z = torch.addmm(pre[rows] + table[prev], h_p, w_hh_t)
                z_i, z_f, z_g, z_o = z.chunk(4, dim=-1)
                c_p = torch.sigmoid(z_f) * c_p + torch.sigmoid(z_i) * torch.tanh(z_g)
                h_p = torch.sigmoid(z_o) * torch.tanh(c_p)
                states[i] = (h_p, c_p)
                outputs.append(h_p)
            a = torch.cat([h[rows], embed(prev)], dim=-1)
            o, gates = self.shared.combine(task, outputs, a)
            mask = allowed[prev]
            ending = steps[t + 1] if t + 1 < len(steps) else 0
            if ending < k:
                mask[ending:k] &= end_ok
            prev = output(o).masked_fill(~mask, float("-inf")).argmax(dim=-1)
            tags[rows] = prev
            for name, value in gates.items():
                if name not in gate_values:
                    gate_values[name] = h.new_empty(h.shape[0])
                gate_values[name][rows] = value
            offset += k
        return tags, gate_values

    def drop_sources(self) -> None:
        for source in self.shared.sources:
            del self.tag_embed[source]
            del self.output[source]
        self.shared.drop_sources()
