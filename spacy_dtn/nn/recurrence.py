"""Several LSTMs over one packed input, stepped together, with a hand-written backward.

A component's paths (soft, hard, independent) and an LSTM's two directions all read the
same input, so a DTN component is up to six LSTMs over one batch. ``nn.LSTM`` runs each on
its own, and on the CPU with a ``PackedSequence`` it records a few autograd nodes per time
step per LSTM: in training most of the network's time went to that bookkeeping, not to
arithmetic. Here every LSTM of a component advances in one batched matrix product and one
set of pointwise operations per step (state shape ``(K, rows, hidden)`` for K LSTMs), and
backpropagation through time is one loop of the same kind (:class:`_Recurrence`).

The reverse direction runs over each sentence reversed. In the packed layout (sorted by
length, longest first) a reversed batch has the same ``batch_sizes`` as the forward one,
so both directions step in lockstep: position ``(t, j)`` of the reversed batch holds token
``L_j - 1 - t`` of sentence ``j`` (:func:`reverse_index`).

The parameters are the ``nn.LSTM`` modules' own (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0`` and their ``_reverse`` twins), so saved networks load
unchanged; the arithmetic per LSTM is the cell's, ``z = W_ih x + b_ih + W_hh h + b_hh``,
``c = σ(f) c + σ(i) tanh(g)``, ``h = σ(o) tanh(c)``, with the terms added in another order.
"""
from typing import List, Optional, Sequence

import torch
from torch import nn


def fused(x: torch.Tensor) -> bool:
    """Whether to run LSTMs here rather than through ``nn.LSTM``: in training on the CPU.

    At inference there is no graph to record, and ``nn.LSTM`` measured as fast overall (faster
    on one sentence, which it runs unpacked); on an accelerator cuDNN runs the whole
    recurrence in one kernel.
    """
    return torch.is_grad_enabled() and x.device.type == "cpu"


def sequence_outputs(
    lstms: Sequence[nn.LSTM], x: torch.Tensor, steps: List[int]
) -> List[torch.Tensor]:
    """Each LSTM's output at every position, (N, n_directions · hidden), packed: what
    ``lstm(packed)[0].data`` is."""
    if not lstms[0].bidirectional:
        return list(run_lstms(lstms, x, steps)[0].unbind(0))
    reverse = reverse_index(steps, x.device)
    forward, backward = run_lstms(lstms, x, steps, reverse)
    return [torch.cat([f, b[reverse]], dim=-1) for f, b in zip(forward, backward)]


def final_states(
    lstms: Sequence[nn.LSTM], x: torch.Tensor, steps: List[int], ranks: torch.Tensor
) -> List[torch.Tensor]:
    """Each bidirectional LSTM's ``[→h_last ; ←h_last]`` per sequence, (B, 2 · hidden):
    ``torch.cat([h_n[0], h_n[1]], -1)``; ``ranks`` (B,) is each sequence's rank in the
    packing (its ``unsorted_indices``)."""
    reverse = reverse_index(steps, x.device)
    forward, backward = run_lstms(lstms, x, steps, reverse)
    # Both directions end at (L_j - 1, j): the reverse one in its own (reversed) order.
    last = last_index(steps, x.device)[ranks]
    return [torch.cat([f[last], b[last]], dim=-1) for f, b in zip(forward, backward)]


def run_lstms(
    lstms: Sequence[nn.LSTM], x: torch.Tensor, steps: List[int],
    reverse: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """The hidden states of every LSTM over ``x`` (N, input width), packed.

    ``steps`` are the packing's batch sizes (Python ints). The LSTMs are single-layer,
    batch-first and all of one width and direction count; bidirectional ones need
    ``reverse`` (:func:`reverse_index`). Returns (n_directions, n_lstms, N, hidden): the
    forward direction in packed order, the reverse direction in *reversed* packed order
    (``[..., reverse, :]`` puts it back; position ``(t, j)`` is then the state after
    reading token ``t`` of sentence ``j`` from the end).
    """
    n_dirs = 2 if lstms[0].bidirectional else 1
    if n_dirs == 2 and reverse is None:
        raise ValueError("bidirectional LSTMs need the reverse index")
    suffixes = ["", "_reverse"][:n_dirs]
    hidden = lstms[0].hidden_size
    order = gate_order(hidden, x.device)
    w_ih = torch.stack([getattr(m, "weight_ih_l0" + s) for s in suffixes for m in lstms])
    w_hh = torch.stack([getattr(m, "weight_hh_l0" + s) for s in suffixes for m in lstms])
    bias = torch.stack([
        getattr(m, "bias_ih_l0" + s) + getattr(m, "bias_hh_l0" + s)
        for s in suffixes for m in lstms
    ])
    states = _Recurrence.apply(
        x, w_ih[:, order], bias[:, order], w_hh[:, order], steps, reverse
    )
    return states.view(n_dirs, len(lstms), x.shape[0], hidden)


def gate_order(hidden: int, device: torch.device) -> torch.Tensor:
    """Rows of PyTorch's gates ``i, f, g, o`` as ``i, f, o, g``: the sigmoids side by side."""
    return torch.cat([
        torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden),
        torch.arange(2 * hidden, 3 * hidden),
    ]).to(device)


def reverse_index(steps: List[int], device: torch.device) -> torch.Tensor:
    """(N,) for packed ``steps``: the packed position of the token that position ``(t, j)``
    of the reversed batch reads, ``(L_j - 1 - t, j)``; its own inverse."""
    sizes, offsets, lengths = _layout(steps)
    time = torch.repeat_interleave(torch.arange(len(steps)), sizes)
    rank = torch.arange(time.shape[0]) - offsets[time]
    return (offsets[lengths[rank] - 1 - time] + rank).to(device)


def last_index(steps: List[int], device: torch.device) -> torch.Tensor:
    """(B,) the packed position of each rank's last step, ``(L_j - 1, j)``."""
    _, offsets, lengths = _layout(steps)
    return (offsets[lengths - 1] + torch.arange(lengths.shape[0])).to(device)


def _layout(steps: List[int]):
    """The batch sizes, each step's first packed position and each rank's length."""
    sizes = torch.tensor(steps)
    offsets = torch.cumsum(sizes, 0) - sizes
    lengths = (sizes[None, :] > torch.arange(steps[0])[:, None]).sum(1)
    return sizes, offsets, lengths


class _Recurrence(torch.autograd.Function):
    """K LSTMs over one packed input, gates in the order ``i, f, o, g``.

    ``x`` (N, I) in packed order; ``w_ih`` (K, 4H, I), ``bias`` (K, 4H) (both biases
    summed), ``w_hh`` (K, 4H, H). With ``reverse`` given, the first K/2 LSTMs read ``x``
    and the others ``x[reverse]``. Each step's tensors are (K, rows, ·) and contiguous, so
    the batched products run as one call and the pointwise operations on dense memory;
    the backward pass walks the same per-step tensors back.
    """

    @staticmethod
    def forward(ctx, x, w_ih, bias, w_hh, steps: List[int], reverse: Optional[torch.Tensor]):
        projected = _project(x, reverse, w_ih, bias)
        keep = ctx.needs_input_grad[0] or any(ctx.needs_input_grad[1:4])
        states, acts, cells, tanh_cells = _run_steps(projected, w_hh, steps, keep)
        if keep:
            ctx.steps, ctx.states = steps, states
            ctx.acts, ctx.cells, ctx.tanh_cells = acts, cells, tanh_cells
            ctx.save_for_backward(x, reverse, w_ih, w_hh)
        return torch.cat(states, dim=1)

    @staticmethod
    def backward(ctx, grad_states):
        x, reverse, w_ih, w_hh = ctx.saved_tensors
        if ctx.states is None:
            raise RuntimeError(
                "backward through the fused LSTM recurrence ran twice; its saved states are "
                "freed after the first (as PyTorch frees saved tensors without retain_graph)"
            )
        steps, states = ctx.steps, ctx.states
        acts, cells, tanh_cells = ctx.acts, ctx.cells, ctx.tanh_cells
        ctx.states = ctx.acts = ctx.cells = ctx.tanh_cells = None  # freed as in saved tensors
        n_lstms, _, hidden = grad_states.shape
        i_, f_, o_, g_ = (slice(j * hidden, (j + 1) * hidden) for j in range(4))
        sig = slice(0, 3 * hidden)
        offsets = [0]
        for k in steps[:-1]:
            offsets.append(offsets[-1] + k)
        grad_z: List[torch.Tensor] = [None] * len(steps)  # type: ignore[list-item]
        dh_carry = dc_carry = None
        for t in range(len(steps) - 1, -1, -1):
            k, offset = steps[t], offsets[t]
            a, tanh_c = acts[t], tanh_cells[t]
            dh = grad_states[:, offset: offset + k]
            if dh_carry is not None:  # the sentences still running at t + 1 come first
                dh = dh.clone()
                dh[:, : dh_carry.shape[1]] += dh_carry
            dc = dh * a[..., o_] * (1 - tanh_c * tanh_c)
            if dc_carry is not None:
                dc[:, : dc_carry.shape[1]] += dc_carry
            dz = torch.empty_like(a)
            torch.mul(dc, a[..., g_], out=dz[..., i_])
            if t:
                torch.mul(dc, cells[t - 1][:, :k], out=dz[..., f_])
            else:
                dz[..., f_].zero_()
            torch.mul(dh, tanh_c, out=dz[..., o_])
            s = a[..., sig]
            dz[..., sig].mul_(s - s * s)
            g = a[..., g_]
            torch.mul(dc, a[..., i_], out=dz[..., g_])
            dz[..., g_].mul_(1 - g * g)
            grad_z[t] = dz
            if t:
                dc_carry = dc * a[..., f_]
                dh_carry = torch.bmm(dz, w_hh)
        grad_z_all = torch.cat(grad_z, dim=1)
        # h_{t-1} for every position: zeros at the first step
        h_prev = [grad_states.new_zeros(n_lstms, steps[0], hidden)]
        h_prev += [states[t - 1][:, : steps[t]] for t in range(1, len(steps))]
        grad_w_hh = torch.bmm(grad_z_all.transpose(1, 2), torch.cat(h_prev, dim=1))
        grad_bias = grad_z_all.sum(1)
        inputs = _inputs(x, reverse, n_lstms)
        grad_w_ih = torch.stack([grad_z_all[k].t().mm(inputs[k]) for k in range(n_lstms)])
        grad_x = None
        if ctx.needs_input_grad[0]:
            groups = [range(n_lstms)] if reverse is None else [
                range(n_lstms // 2), range(n_lstms // 2, n_lstms)
            ]
            grads = []
            for group in groups:
                total = x.new_zeros(x.shape)
                for k in group:
                    total.addmm_(grad_z_all[k], w_ih[k])
                grads.append(total)
            grad_x = grads[0] if reverse is None else grads[0] + grads[1][reverse]
        return grad_x, grad_w_ih, grad_bias, grad_w_hh, None, None


def _project(x, reverse, w_ih, bias) -> torch.Tensor:
    """``W_ih x + b`` of every LSTM, (K, N, 4H)."""
    n_lstms, four_h, _ = w_ih.shape
    inputs = _inputs(x, reverse, n_lstms)
    projected = x.new_empty(n_lstms, x.shape[0], four_h)
    for k in range(n_lstms):
        torch.addmm(bias[k], inputs[k], w_ih[k].t(), out=projected[k])
    return projected


def _run_steps(projected: torch.Tensor, w_hh: torch.Tensor, steps: List[int], keep: bool):
    """The recurrence given the input projections; per step, the hidden states (K, k, H)
    and, if ``keep``, the activations, cell states and their tanh (for the backward)."""
    n_lstms, _, four_h = projected.shape
    hidden = four_h // 4
    three_h = 3 * hidden
    w_t = w_hh.transpose(1, 2)
    states, acts, cells, tanh_cells = [], [], [], []
    h = c = projected.new_zeros(n_lstms, steps[0], hidden)
    offset = 0
    for k in steps:
        z = torch.baddbmm(projected[:, offset: offset + k], h[:, :k], w_t)
        z[..., :three_h].sigmoid_()
        z[..., three_h:].tanh_()
        c = torch.addcmul(z[..., hidden: 2 * hidden] * c[:, :k], z[..., :hidden], z[..., three_h:])
        tanh_c = torch.tanh(c)
        h = z[..., 2 * hidden: three_h] * tanh_c
        states.append(h)
        if keep:
            acts.append(z)
            cells.append(c)
            tanh_cells.append(tanh_c)
        offset += k
    return states, acts, cells, tanh_cells


def _inputs(x: torch.Tensor, reverse: Optional[torch.Tensor], n_lstms: int) -> List[torch.Tensor]:
    """What each of the K LSTMs reads: ``x``, or ``x[reverse]`` for the second half."""
    if reverse is None:
        return [x] * n_lstms
    backward = x[reverse]
    return [x] * (n_lstms // 2) + [backward] * (n_lstms // 2)
