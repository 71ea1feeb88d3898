"""The LSTM decoder: ``o_t = LSTM(o_{t-1}, [h_t ; tagemb(y_{t-1})])``, ``P(y_t) = softmax(W o_t + b)``.

Training feeds the gold previous tag (teacher forcing) and runs each LSTM over the whole
sequence at once. Inference is greedy and step by step, restricted to valid IOBES
transitions; it reuses the same LSTM weights through an explicit cell so that the part of
the input known in advance (``h_t``) is projected once for all steps, and the previous tag's
contribution is a row lookup in a precomputed table.
"""
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

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
        self, task: str, h: torch.Tensor, prev_tags: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """Decoder states for known previous tags ``prev_tags`` (B, T)."""
        x = torch.cat([h, self.tag_embed[task](prev_tags)], dim=-1)
        # Unidirectional and right-padded: padding cannot reach earlier positions.
        outputs = [lstm(x)[0] for lstm in self.shared.paths(task)]
        return self.shared.combine(task, outputs, x)

    def greedy(
        self,
        task: str,
        h: torch.Tensor,
        active: List[int],
        allowed: torch.Tensor,
        end_ok: torch.Tensor,
    ) -> Tuple[torch.Tensor, Gates]:
        """Greedy decoding of rows sorted by length, longest first.

        ``active[t]`` is the number of rows longer than ``t`` (so ``active[0] == B`` and the
        rows still decoding at step ``t`` are ``[:active[t]]``). ``allowed`` (n+1, n) holds the
        valid transitions from each tag or the start; ``end_ok`` (n,) the tags a sentence may
        end with. Returns tags (B, T) and the per-step gate values of the target.
        """
        n_rows, n_steps = h.shape[0], h.shape[1]
        embed = self.tag_embed[task]
        output = self.output[task]
        start = embed.num_embeddings - 1
        cells = []
        for lstm in self.shared.paths(task):
            w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
            pre = torch.matmul(h, w_ih[:, : self.in_width].t()) + bias
            table = torch.matmul(embed.weight, w_ih[:, self.in_width :].t())
            cells.append((pre, table, w_hh.t()))
        hidden = w_hh.shape[1]
        states = [
            (h.new_zeros(n_rows, hidden), h.new_zeros(n_rows, hidden)) for _ in cells
        ]
        prev = torch.full((n_rows,), start, dtype=torch.long, device=h.device)
        tags = torch.zeros(n_rows, n_steps, dtype=torch.long, device=h.device)
        gate_steps: Dict[str, torch.Tensor] = {}
        for t in range(n_steps):
            k = active[t]
            prev = prev[:k]
            outputs = []
            for i, (pre, table, w_hh_t) in enumerate(cells):
                h_p, c_p = states[i][0][:k], states[i][1][:k]
                z = pre[:k, t] + table[prev] + torch.matmul(h_p, w_hh_t)
                z_i, z_f, z_g, z_o = z.chunk(4, dim=-1)
                c_p = torch.sigmoid(z_f) * c_p + torch.sigmoid(z_i) * torch.tanh(z_g)
                h_p = torch.sigmoid(z_o) * torch.tanh(c_p)
                states[i] = (h_p, c_p)
                outputs.append(h_p)
            a = torch.cat([h[:k, t], embed(prev)], dim=-1)
            o, gates = self.shared.combine(task, outputs, a)
            mask = allowed[prev]
            ending = active[t + 1] if t + 1 < n_steps else 0
            if ending < k:
                mask[ending:k] &= end_ok
            scores = output(o).masked_fill(~mask, float("-inf"))
            prev = scores.argmax(dim=-1)
            tags[:k, t] = prev
            for name, value in gates.items():
                if name not in gate_steps:
                    gate_steps[name] = h.new_zeros(n_rows, n_steps)
                gate_steps[name][:k, t] = value
        return tags, gate_steps

    def drop_sources(self) -> None:
        for source in self.shared.sources:
            del self.tag_embed[source]
            del self.output[source]
        self.shared.drop_sources()
