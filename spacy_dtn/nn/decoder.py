"""The decoder, in one of two kinds (the ``decoder`` setting).

``"lstm"`` (the paper's): ``o_t = LSTM(o_{t-1}, [h_t ; tagemb(y_{t-1})])``,
``P(y_t) = softmax(W o_t + b)``. Training feeds the gold previous tag (teacher forcing) and
runs each LSTM over the whole sequence at once. Inference is greedy and step by step,
restricted to valid IOBES transitions; it reuses the same LSTM weights through an explicit
cell so that the part of the input known in advance (``h_t``) is projected once for all
steps, and the previous tag's contribution is a row lookup in a precomputed table.

``"crf"``: ``o_t = LSTM(o_{t-1}, h_t)`` (no tag fed back, so the whole sequence runs at once
in training and inference alike), emissions ``W o_t + b`` and a linear-chain CRF per task
(:mod:`.crf`): sequence log-likelihood in training, Viterbi at inference. The decoder LSTM
keeps its sharing scheme and gates either way.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from . import crf
from .norm import normalize_output
from .packing import Packing
from .sharing import Gates, SharedComponent

DECODERS = ("lstm", "crf")


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
        tied_tags: Optional[Dict[str, List[int]]] = None,
        normalize: bool = False,
        kind: str = "lstm",
    ):
        super().__init__()
        if kind not in DECODERS:
            raise ValueError(f"Unknown decoder {kind!r}; choose one of {DECODERS}")
        self.kind = kind
        self.in_width = in_width
        self.normalize = normalize
        self.target = target
        # Each task has its own tag embedding (with a start symbol) and output layer, except
        # for the tags it shares with the target (label-mapped output sharing, Yang et al.'s
        # T-A): ``tied_tags[source][j]`` is the target tag that source tag ``j`` is (the
        # start symbol last), or -1. A tied tag's embedding row and output row *are* the
        # target's; the source keeps rows for its other tags only.
        tied_tags = {t: v for t, v in (tied_tags or {}).items() if any(x >= 0 for x in v)}
        self.tied = sorted(tied_tags)
        own = {task: (n + 1, n) for task, n in tag_counts.items()}
        for task, ties in tied_tags.items():
            own[task] = (ties.count(-1), ties[:-1].count(-1))  # the untied rows only
            embed_index, output_index = _tie_index(ties, tag_counts[target])
            self.register_buffer(f"embed_index_{task}", embed_index, persistent=False)
            self.register_buffer(f"output_index_{task}", output_index, persistent=False)
        if kind == "lstm":
            self.tag_embed = nn.ModuleDict(
                {task: nn.Embedding(rows, tag_embed) for task, (rows, _) in own.items()}
            )
        else:
            # Row i scores tag i followed by each tag, the last row the first tag; and the
            # score of each tag as the last. Zeros: the constraints alone at first.
            tag_embed = 0
            self.transitions = nn.ParameterDict(
                {task: nn.Parameter(torch.zeros(n + 1, n)) for task, n in tag_counts.items()}
            )
            self.end_transitions = nn.ParameterDict(
                {task: nn.Parameter(torch.zeros(n)) for task, n in tag_counts.items()}
            )
        with warnings.catch_warnings():  # a fully tied source keeps zero rows of its own
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self.output = nn.ModuleDict(
                {task: nn.Linear(hidden, rows) for task, (_, rows) in own.items()}
            )

        def make_rnn() -> nn.Module:
            return nn.LSTM(in_width + tag_embed, hidden, batch_first=True)

        self.shared = SharedComponent(
            scheme, make_rnn, target, sources, hidden, in_width + tag_embed
        )

    def tag_table(self, task: str) -> torch.Tensor:
        """The task's tag embeddings, (n_tags + 1, tag_embed), the start symbol last."""
        own = self.tag_embed[task].weight
        if task not in self.tied:
            return own
        rows = torch.cat([self.tag_embed[self.target].weight, own])
        return rows[getattr(self, f"embed_index_{task}")]

    def logits(self, task: str, o: torch.Tensor) -> torch.Tensor:
        """``W o_t + b`` of the task's output layer, (…, n_tags)."""
        own = self.output[task]
        if task not in self.tied:
            return own(o)
        target = self.output[self.target]
        index = getattr(self, f"output_index_{task}")
        weight = torch.cat([target.weight, own.weight])[index]
        return F.linear(o, weight, torch.cat([target.bias, own.bias])[index])

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_output(x, self.normalize)

    def crf_scores(
        self, task: str, allowed: torch.Tensor, end_ok: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The task's CRF scores (pairwise, start, end) under the IOBES constraints."""
        return crf.constrained_scores(
            self.transitions[task], self.end_transitions[task], allowed, end_ok
        )

    def states(self, task: str, h: torch.Tensor, packing: Packing) -> Tuple[torch.Tensor, Gates]:
        """Decoder states (N, hidden) of the ``crf`` decoder, which sees ``h`` only; packed."""
        sequence = packing.pack(h)
        outputs = [lstm(sequence)[0].data for lstm in self.shared.paths(task)]
        return self.shared.combine(task, outputs, h)

    def teacher_forced(
        self, task: str, h: torch.Tensor, prev_tags: torch.Tensor, packing: Packing
    ) -> Tuple[torch.Tensor, Gates]:
        """Decoder states (N, hidden) for known previous tags; everything in packed order."""
        x = torch.cat([h, F.embedding(prev_tags, self.tag_table(task))], dim=-1)
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
        embed = self.tag_table(task)
        start = embed.shape[0] - 1
        cells = []
        for lstm in self.shared.paths(task):
            w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
            pre = torch.addmm(bias, h, w_ih[:, : self.in_width].t())
            table = torch.matmul(embed, w_ih[:, self.in_width :].t())
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
            a = torch.cat([h[rows], embed[prev]], dim=-1)
            o, gates = self.shared.combine(task, outputs, a)
            mask = allowed[prev]
            ending = steps[t + 1] if t + 1 < len(steps) else 0
            if ending < k:
                mask[ending:k] &= end_ok
            prev = self.logits(task, self.norm(o)).masked_fill(~mask, float("-inf")).argmax(dim=-1)
            tags[rows] = prev
            for name, value in gates.items():
                if name not in gate_values:
                    gate_values[name] = h.new_empty(h.shape[0])
                gate_values[name][rows] = value
            offset += k
        return tags, gate_values

    def drop_sources(self) -> None:
        for source in self.shared.sources:
            if self.kind == "lstm":
                del self.tag_embed[source]
            else:
                del self.transitions[source]
                del self.end_transitions[source]
            del self.output[source]
            if source in self.tied:
                delattr(self, f"embed_index_{source}")
                delattr(self, f"output_index_{source}")
        self.tied = []
        self.shared.drop_sources()


def _tie_index(ties: List[int], n_target: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Row indices into ``cat([target rows, own rows])`` for a source's tags.

    ``ties``: for each source tag (the start symbol last) the target tag it is, or -1. The
    target's embedding table has ``n_target + 1`` rows (start last) and its output layer
    ``n_target``; untied tags take the source's own rows in order.
    """
    embed_index, output_index = [], []
    own_embed = own_output = 0
    for j, tie in enumerate(ties):
        is_start = j == len(ties) - 1
        if tie >= 0:
            embed_index.append(n_target if is_start else tie)
            if not is_start:
                output_index.append(tie)
            continue
        embed_index.append(n_target + 1 + own_embed)
        own_embed += 1
        if not is_start:
            output_index.append(n_target + own_output)
            own_output += 1
    return torch.tensor(embed_index), torch.tensor(output_index, dtype=torch.long)
