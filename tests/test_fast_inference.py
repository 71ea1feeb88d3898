"""The fused greedy decoder against the unfused computation it replaced (issue 12).

``unfused_greedy`` is the decoder's former inference loop, kept here (not in the package) as
the reference: per step, each path's LSTM cell on its own, then ``SharedComponent.combine``
over the concatenations, the output layer, the IOBES mask and argmax.
"""
from typing import Dict

import pytest
import torch

from spacy_dtn.nn import DTNNetwork, NetworkConfig

from test_nn import random_batch, reference_tags


def unfused_greedy(decoder, task, h, packing, allowed, end_ok):
    """The former ``Decoder.greedy``, verbatim: returns tags and gates, packed."""
    embed = decoder.tag_table(task)
    start = embed.shape[0] - 1
    cells = []
    for lstm in decoder.shared.paths(task):
        w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
        bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
        pre = torch.addmm(bias, h, w_ih[:, : decoder.in_width].t())
        table = torch.matmul(embed, w_ih[:, decoder.in_width :].t())
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
        o, gates = decoder.shared.combine(task, outputs, a)
        mask = allowed[prev]
        ending = steps[t + 1] if t + 1 < len(steps) else 0
        if ending < k:
            mask[ending:k] &= end_ok
        logits = decoder.logits(task, decoder.norm(o))
        prev = logits.masked_fill(~mask, float("-inf")).argmax(dim=-1)
        tags[rows] = prev
        for name, value in gates.items():
            if name not in gate_values:
                gate_values[name] = h.new_empty(h.shape[0])
            gate_values[name][rows] = value
        offset += k
    return tags, gate_values


CASES = [
    ("dtn", {}), ("dtn_hs", {}), ("baseline", {}), ("HIS", {}), ("SHI", {}),
    ("dtn", {"label_map": "name"}), ("dtn", {"normalize": True}),
    ("dtn_hs", {"normalize": True, "label_map": "name"}),
]


@pytest.mark.parametrize("sharing,extra", CASES)
def test_fused_greedy_matches_the_unfused_decoder(sharing, extra):
    labels = {"target": ["A", "B", "C"], "source": ["B", "D"]}
    for seed in range(20):
        torch.manual_seed(seed)
        net = DTNNetwork(NetworkConfig(word_width=6, sharing=sharing, **extra), "target",
                         labels).eval()
        gen = torch.Generator().manual_seed(100 + seed)
        n_sents = int(torch.randint(1, 9, (1,), generator=gen))
        lengths = torch.randint(1, 12, (n_sents,), generator=gen).tolist()
        batch = random_batch(6, lengths, n_words=9, seed=seed)
        with torch.no_grad():
            # sharpen the output layers so that the constraints and near-ties matter
            for layer in net.decoder.output.values():
                layer.weight.mul_(1 + seed % 5 * 5)
            for task in net.tasks:
                h, packing, _, _ = net.encode(*batch, task=task)
                allowed = getattr(net, f"allowed_{task}")
                end_ok = getattr(net, f"end_ok_{task}")
                fast, fast_gates = net.decoder.greedy(task, h, packing, allowed, end_ok)
                slow, slow_gates = unfused_greedy(net.decoder, task, h, packing, allowed, end_ok)
                assert fast.tolist() == slow.tolist(), (seed, task)
                assert set(fast_gates) == set(slow_gates)
                for name in slow_gates:
                    assert torch.allclose(fast_gates[name], slow_gates[name], atol=1e-5)


@pytest.mark.parametrize("sharing", ["dtn", "dtn_hs", "baseline", "HIS"])
def test_fused_network_matches_the_naive_oracle_on_many_batches(sharing):
    labels = {"target": ["A", "B"], "source": ["B"]}
    for seed in range(10):
        torch.manual_seed(seed)
        net = DTNNetwork(NetworkConfig(word_width=6, sharing=sharing, normalize=seed % 2 == 1),
                         "target", labels).eval()
        gen = torch.Generator().manual_seed(200 + seed)
        lengths = torch.randint(1, 10, (int(torch.randint(1, 6, (1,), generator=gen)),),
                                generator=gen).tolist()
        batch = random_batch(6, lengths, n_words=8, seed=seed)
        with torch.no_grad():
            net.decoder.output["target"].weight.mul_(10)
            fast, _ = net(*batch, task="target")
            assert fast.tolist() == reference_tags(net, *batch)
