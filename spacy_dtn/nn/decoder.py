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

from . import crf, recurrence
from .packing import Packing
from .sharing import Gates, SharedComponent

DECODERS = ("lstm", "crf")


class Decoder(nn.Module):
    def __init__(
        self,
        scheme: str,
        *,
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
            scheme, make_rnn, target=target, sources=sources, out_width=hidden,
            gate_input_width=in_width + tag_embed,
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
        return F.linear(o, self._output_weight(task), self._output_bias(task))

    def crf_scores(
        self, task: str, allowed: torch.Tensor, end_ok: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The task's CRF scores (pairwise, start, end) under the IOBES constraints."""
        return crf.constrained_scores(
            self.transitions[task], self.end_transitions[task], allowed, end_ok
        )

    def states(self, task: str, h: torch.Tensor, packing: Packing) -> Tuple[torch.Tensor, Gates]:
        """Decoder states (N, hidden) of the ``crf`` decoder, which sees ``h`` only; packed."""
        return self.shared.combine(task, self._run(task, h, packing), h)

    def teacher_forced(
        self, task: str, h: torch.Tensor, prev_tags: torch.Tensor, packing: Packing
    ) -> Tuple[torch.Tensor, Gates]:
        """Decoder states (N, hidden) for known previous tags; everything in packed order."""
        x = torch.cat([h, F.embedding(prev_tags, self.tag_table(task))], dim=-1)
        return self.shared.combine(task, self._run(task, x, packing), x)

    def _run(self, task: str, x: torch.Tensor, packing: Packing) -> List[torch.Tensor]:
        """Each of the task's LSTM paths over the whole of ``x`` (N, width), packed."""
        paths = self.shared.paths(task)
        if recurrence.fused(x):
            return recurrence.sequence_outputs(paths, x, packing.steps)
        sequence = packing.pack(x)
        return [lstm(sequence)[0].data for lstm in paths]

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

        The loop is the costly part of inference on small batches (a few dozen tiny torch
        calls per step), so everything that does not depend on the previous tag is computed
        once per batch (:meth:`_step_tables`), the task's LSTM paths step together
        (:class:`_PathsCell`) and each step reads what depends on the previous tag with one
        row lookup.
        """
        cell = _PathsCell(self.shared.paths(task))
        combine = self.shared.stepper(task)
        by_position, by_tag, by_tag_at_end, cols = self._step_tables(
            task, h, cell, allowed, end_ok
        )
        lstm_cols, gate_cols, out_cols = cols
        weight_t = self._output_weight(task).t()
        norm, addmm = _normalizer(self.normalize, weight_t.shape[0]), torch.addmm
        steps = packing.steps
        prev = torch.full((steps[0],), by_tag.shape[0] - 1, dtype=torch.long, device=h.device)
        state = cell.zero_state(steps[0], h)
        tags, gate_values = [], []
        offset = 0
        for t, k in enumerate(steps):
            prev = prev[:k]
            known = by_position[offset: offset + k] + by_tag[prev]
            ending = steps[t + 1] if t + 1 < len(steps) else 0
            if ending < k:  # sentences ending here may end only with an allowed tag
                known[ending:, out_cols] = by_tag_at_end[prev[ending:]]
            state = cell.step(known[:, lstm_cols], state)
            o, gates = combine(cell.outputs(state), known[:, gate_cols])
            prev = addmm(known[:, out_cols], norm(o), weight_t).argmax(dim=-1)
            tags.append(prev)
            gate_values.append(gates)
            offset += k
        names = ["g1", "g2"][: len(gate_values[0])]
        return torch.cat(tags), {
            name: torch.cat([g[i] for g in gate_values]).squeeze(-1)
            for i, name in enumerate(names)
        }

    def _output_weight(self, task: str) -> torch.Tensor:
        """The task's output weight (n_tags, hidden), tied rows included."""
        if task not in self.tied:
            return self.output[task].weight
        target, own = self.output[self.target], self.output[task]
        index = getattr(self, f"output_index_{task}")
        return torch.cat([target.weight, own.weight])[index]

    def _output_bias(self, task: str) -> torch.Tensor:
        """The task's output bias (n_tags,), tied rows included."""
        if task not in self.tied:
            return self.output[task].bias
        target, own = self.output[self.target], self.output[task]
        return torch.cat([target.bias, own.bias])[getattr(self, f"output_index_{task}")]

    def _step_tables(
        self,
        task: str,
        h: torch.Tensor,
        cell: "_PathsCell",
        allowed: torch.Tensor,
        end_ok: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Tuple[slice, slice, slice]]:
        """What a greedy step adds to its matrix products, split by what it depends on.

        A step's known terms are the LSTM paths' input projections (with their biases), the
        gates' terms over ``a = [h_t ; tagemb(y_{t-1})]`` (with their biases) and the output
        bias with the IOBES mask (``-inf`` where a tag may not follow). Each is a sum of a
        part that depends on the position only (``by_position``, (N, C)) and a part that
        depends on the previous tag only (``by_tag``, (n_tags + 1, C)), so a step is one row
        lookup and one addition. ``by_tag_at_end`` (n_tags + 1, n_tags) is the output bias
        for a sentence's last position. Also returns the column slices of the three parts.
        """
        embed = self.tag_table(task)
        w_in, bias = cell.input_weight(), cell.bias()
        gates = self.shared.gate_layers(task)
        width = self.in_width
        parts_position = [torch.addmm(bias, h, w_in[:, :width].t())]
        parts_tag = [torch.matmul(embed, w_in[:, width:].t())]
        if gates:
            a_offset = 2 * self.shared.out_width
            w_a = torch.cat([g.weight[:, a_offset:] for g in gates])
            b_a = torch.cat([g.bias for g in gates])
            parts_position.append(torch.addmm(b_a, h, w_a[:, :width].t()))
            parts_tag.append(torch.matmul(embed, w_a[:, width:].t()))
        out_bias = self._output_bias(task)
        n_tags = out_bias.shape[0]
        parts_position.append(h.new_zeros(h.shape[0], n_tags))
        parts_tag.append(_masked(out_bias, allowed))
        at_end = _masked(out_bias, allowed & end_ok)
        n_lstm, n_gates = w_in.shape[0], len(gates)
        cols = (
            slice(0, n_lstm),
            slice(n_lstm, n_lstm + n_gates),
            slice(n_lstm + n_gates, n_lstm + n_gates + n_tags),
        )
        return torch.cat(parts_position, dim=-1), torch.cat(parts_tag, dim=-1), at_end, cols

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


def _normalizer(enabled: bool, width: int):
    """:func:`normalize_output` as one bound call (``F.layer_norm`` is ``torch.layer_norm``
    after argument checks, which a step need not repeat)."""
    if not enabled:
        return lambda x: x
    shape = [width]
    return lambda x: torch.layer_norm(x, shape)


def _masked(bias: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``bias`` (n,) repeated for each row of ``allowed`` (r, n), ``-inf`` where not allowed.

    Added to ``W o_t`` it gives the masked logits that the argmax reads: ``x + (-inf)`` is
    ``-inf`` and ``bias`` itself is what ``nn.Linear`` adds.
    """
    return bias.expand(allowed.shape).masked_fill(~allowed, float("-inf"))


class _PathsCell:
    """The LSTM cells of a task's paths (one ``nn.LSTM`` each), stepped together.

    One batched matrix product computes every path's recurrent term, and one set of
    pointwise operations their states: the paths' state is (n_paths, k, hidden). Gate rows
    are reordered from PyTorch's ``i, f, g, o`` to ``i, f, o, g`` so that the three sigmoid
    gates are one slice. The arithmetic per path is the cell's own: ``z = known + h W_hhᵀ``,
    ``c = σ(f) c + σ(i) tanh(g)``, ``h = σ(o) tanh(c)``.
    """

    def __init__(self, lstms: Sequence[nn.Module]):
        self.lstms = list(lstms)
        hidden = self.lstms[0].hidden_size
        self.hidden = hidden
        self.order = recurrence.gate_order(hidden, self.lstms[0].weight_hh_l0.device)
        # (n_paths, hidden, 4 hidden): the right operand of the batched product
        self.w_hh_t = torch.stack([lstm.weight_hh_l0[self.order].t() for lstm in self.lstms])

    def input_weight(self) -> torch.Tensor:
        """Every path's input weight, (n_paths · 4 hidden, input width), gate rows reordered."""
        return torch.cat([lstm.weight_ih_l0[self.order] for lstm in self.lstms])

    def bias(self) -> torch.Tensor:
        """Every path's two biases summed, (n_paths · 4 hidden,), as the cell adds them."""
        return torch.cat([(lstm.bias_ih_l0 + lstm.bias_hh_l0)[self.order] for lstm in self.lstms])

    def zero_state(self, n_rows: int, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        shape = (len(self.lstms), n_rows, self.hidden)
        return like.new_zeros(shape), like.new_zeros(shape)

    def step(
        self, known: torch.Tensor, state: Tuple[torch.Tensor, torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step of every path for the first k rows; ``known`` (k, n_paths · 4 hidden)."""
        k, hidden = known.shape[0], self.hidden
        h_prev, c_prev = state[0][:, :k], state[1][:, :k]
        known = known.view(k, len(self.lstms), 4 * hidden).transpose(0, 1)
        z = torch.baddbmm(known, h_prev, self.w_hh_t)
        gates = torch.sigmoid(z[..., : 3 * hidden])
        c = gates[..., hidden: 2 * hidden] * c_prev + gates[..., :hidden] * torch.tanh(
            z[..., 3 * hidden:]
        )
        return gates[..., 2 * hidden:] * torch.tanh(c), c

    @staticmethod
    def outputs(state: Tuple[torch.Tensor, torch.Tensor]) -> List[torch.Tensor]:
        """Each path's output (k, hidden), in the order of the paths."""
        return list(state[0].unbind(0))
