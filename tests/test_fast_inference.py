"""The fused greedy decoder against the unfused computation it replaced (issue 12).

``unfused_greedy`` is the decoder's former inference loop, kept here (not in the package) as
the reference: per step, each path's LSTM cell on its own, then ``SharedComponent.combine``
over the concatenations, the output layer, the IOBES mask and argmax.
"""
from typing import Dict

import pytest
import torch

from spacy_dtn.nn import DTNNetwork, NetworkConfig
from spacy_dtn.nn.norm import normalize_output

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
        logits = decoder.logits(task, normalize_output(o, decoder.normalize))
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


def test_a_lone_sentence_is_encoded_as_when_packed():
    """The word encoder runs one sentence unpacked: the same values as packed."""
    from spacy_dtn.nn.packing import Packing

    torch.manual_seed(0)
    net = DTNNetwork(NetworkConfig(word_width=6), "target", {"target": ["A"], "source": ["B"]})
    m = torch.randn(9, net.char.width + 6)
    packing = Packing.from_lengths(torch.tensor([9]), m.device)
    with torch.no_grad():
        for task in net.tasks:
            alone, gates = net.word(task, m, packing)
            sequence = packing.pack(m)
            outputs = [lstm(sequence)[0].data for lstm in net.word.shared.paths(task)]
            packed, packed_gates = net.word.shared.combine(task, outputs, m)
            assert torch.equal(alone, packed)
            assert all(torch.equal(gates[n], packed_gates[n]) for n in gates)


def test_the_character_cache_is_exact_and_never_stale():
    torch.manual_seed(0)
    net = DTNNetwork(NetworkConfig(word_width=6), "target",
                     {"target": ["A"], "source": ["B"]}).eval()
    _, char_ids, char_lengths, _, _ = random_batch(6, [4, 3], n_words=12, seed=1)

    def fresh(task, ids, lengths):
        return net.char.encode(task, ids, lengths)

    with torch.no_grad():
        for task in net.tasks:
            for part in (slice(0, 5), slice(3, 12), slice(0, 12)):  # misses, then hits
                ids, lengths = char_ids[part], char_lengths[part]
                cached, gates = net.char(task, ids, lengths)
                computed, computed_gates = fresh(task, ids, lengths)
                assert torch.allclose(cached, computed, atol=1e-6)
                assert set(gates) == set(computed_gates)
                for name in gates:
                    assert torch.allclose(gates[name], computed_gates[name], atol=1e-6)
        assert net.char.caches
        # Thinc's ways of changing weights: through .data (optimizer), load_state_dict
        # (averaged parameters), in place; and a device or dtype move.
        state = {k: v.clone() for k, v in net.state_dict().items()}
        lstm = net.char.shared.paths("target")[0]
        changes = [
            lambda: setattr(lstm.weight_hh_l0, "data", lstm.weight_hh_l0.data * 2),
            lambda: net.load_state_dict(state),
            lambda: net.char.embed.weight.add_(0.5),
            lambda: net.char.shared.gate1.bias.data.sub_(1.0),
            lambda: net.double(),
            lambda: net.float(),
        ]
        for change in changes:
            net.char("target", char_ids, char_lengths)
            change()
            ids = char_ids.clone()
            cached, _ = net.char("target", ids, char_lengths)
            assert torch.allclose(cached, fresh("target", ids, char_lengths)[0], atol=1e-6)
    # with gradients, or in training, nothing is cached
    net.char.caches = {}
    net.char("target", char_ids, char_lengths)
    assert not net.char.caches


@pytest.mark.parametrize("n", [1, 2, 7])
def test_the_packing_of_one_sentence_is_the_general_one(n):
    from spacy_dtn.nn.packing import Packing

    one = Packing.from_lengths(torch.tensor([n]), torch.device("cpu"))
    general = Packing._general(torch.tensor([n]), torch.device("cpu"))
    assert one.steps == general.steps
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices", "gather", "scatter",
                 "starts"):
        assert torch.equal(getattr(one, name), getattr(general, name)), name
        assert getattr(one, name).dtype == getattr(general, name).dtype, name


def test_train_and_eval_still_reach_every_module():
    net = DTNNetwork(NetworkConfig(word_width=6), "target", {"target": ["A"]})
    net.eval()
    assert not any(m.training for m in net.modules())
    net.char.train()  # one module switched on its own
    net.eval()
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
