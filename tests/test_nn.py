"""The pure-PyTorch network: gate arithmetic, sharing schemes, decoding constraints."""
import math

import pytest
import torch
from torch import nn

from spacy_dtn.nn import DTNNetwork, NetworkConfig, TagSet, parse_sharing
from spacy_dtn.iobes import is_valid_iobes
from spacy_dtn.nn.crf import tag_masks
from spacy_dtn.nn.sharing import SharedComponent


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


SIZES = dict(target="target", sources=["source"], out_width=2, gate_input_width=1)


def dummy_rnn() -> nn.Module:
    return nn.Linear(2, 2)


def set_linear(layer: nn.Linear, weights, bias) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weights], dtype=torch.float32))
        layer.bias.fill_(bias)


def test_gate_arithmetic_matches_hand_computation():
    component = SharedComponent("dtn", dummy_rnn, **SIZES)
    # Q, R, S and b_g1; then T, U, V and b_g2.
    set_linear(component.gate1, [0.1, 0.2, 0.3, -0.1, 0.5], -0.2)
    set_linear(component.gate2, [1.0, -1.0, 0.5, 0.0, -0.25], 0.1)
    h_soft, h_hard, h_ind, a = [1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0]
    out, gates = component.combine(
        "target", [torch.tensor([h_soft]), torch.tensor([h_hard]), torch.tensor([h_ind])],
        torch.tensor([a]),
    )
    g1 = sigmoid(0.1 * 1 + 0.2 * 2 + 0.3 * 3 + (-0.1) * (-1) + 0.5 * 2 - 0.2)  # σ(2.3)
    shared = [(1 - g1) * h + g1 * s for h, s in zip(h_hard, h_soft)]
    g2 = sigmoid(1.0 * 0.5 - 1.0 * 0.5 + 0.5 * shared[0] + 0.0 * shared[1] - 0.25 * 2 + 0.1)
    expected = [(1 - g2) * i + g2 * s for i, s in zip(h_ind, shared)]
    assert gates["g1"].item() == pytest.approx(g1, abs=1e-6)
    assert gates["g2"].item() == pytest.approx(g2, abs=1e-6)
    assert out[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_source_output_is_the_sum_of_its_soft_and_the_hard_path():
    component = SharedComponent("dtn", dummy_rnn, **SIZES)
    out, gates = component.combine(
        "source", [torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, -4.0]])], torch.zeros(1, 1)
    )
    assert out[0].tolist() == [1.5, -2.0]
    assert gates == {}


def test_dtn_hs_has_no_second_gate():
    component = SharedComponent("dtn_hs", dummy_rnn, **SIZES)
    assert not hasattr(component, "gate2") and not hasattr(component, "ind")
    assert len(component.paths("target")) == 2
    set_linear(component.gate1, [0.0, 0.0, 0.0, 0.0, 0.0], 0.0)  # g1 = 0.5
    out, gates = component.combine(
        "target", [torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 4.0]])], torch.zeros(1, 1)
    )
    assert set(gates) == {"g1"}
    assert out[0].tolist() == [1.0, 2.0]


def test_soft_penalty_is_squared_distance_between_task_parameters():
    component = SharedComponent("S", dummy_rnn, **SIZES)
    with torch.no_grad():
        component.own["target"].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        component.own["target"].bias.copy_(torch.tensor([0.0, 1.0]))
        component.own["source"].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 4.0]]))
        component.own["source"].bias.copy_(torch.tensor([2.0, 1.0]))
    # (2-0)² + (3-0)² + (0-2)² = 4 + 9 + 4
    assert component.share_penalty().item() == pytest.approx(17.0)
    assert SharedComponent("H", dummy_rnn, **SIZES).share_penalty() is None
    assert SharedComponent("I", dummy_rnn, **SIZES).share_penalty() is None


def test_network_penalty_is_lambda_times_the_sum_over_soft_components():
    net = DTNNetwork(NetworkConfig(word_width=4, sharing="SIS", share_lambda=0.5), "target",
                     {"target": ["A"], "source": ["B"]})
    by_hand = 0.0
    for component in (net.char.shared, net.decoder.shared):
        for p_t, p_s in zip(component.own["target"].parameters(),
                            component.own["source"].parameters()):
            by_hand += float(((p_t - p_s).detach() ** 2).sum())
    assert net.share_penalty().item() == pytest.approx(0.5 * by_hand, rel=1e-5)


def test_hard_shares_one_module_and_independent_separates():
    hard = SharedComponent("H", dummy_rnn, **SIZES)
    assert hard.paths("target")[0] is hard.paths("source")[0]
    assert len(list(hard.parameters())) == 2  # one weight, one bias: a single set
    ind = SharedComponent("I", dummy_rnn, **SIZES)
    assert ind.paths("target")[0] is not ind.paths("source")[0]


@pytest.mark.parametrize("sharing", ["dtn", "dtn_hs", "baseline", "T-B", "T-C", "SIH", "iis"])
def test_sharing_settings_parse(sharing):
    schemes, with_sources = parse_sharing(sharing)
    assert len(schemes) == 3
    assert with_sources == (sharing != "baseline")


def test_presets_and_bad_codes():
    assert parse_sharing("T-B")[0] == ("H", "H", "I")
    assert parse_sharing("T-C")[0] == ("H", "I", "I")
    with pytest.raises(ValueError, match="TTN code"):
        parse_sharing("HXS")


def test_transition_mask_by_hand():
    tags = TagSet(["Chemical", "Disease"])
    mask = tags.transition_mask()
    ix = tags.index
    assert mask[tags.start, ix["B-Chemical"]] and mask[tags.start, ix["S-Disease"]]
    assert not mask[tags.start, ix["I-Chemical"]] and not mask[tags.start, ix["E-Disease"]]
    assert mask[ix["B-Chemical"], ix["I-Chemical"]] and mask[ix["I-Chemical"], ix["E-Chemical"]]
    assert not mask[ix["B-Chemical"], ix["E-Disease"]] and not mask[ix["B-Chemical"], ix["O"]]
    assert mask[ix["E-Chemical"], ix["O"]] and not mask[ix["E-Chemical"], ix["I-Chemical"]]
    assert tags.end_mask().tolist() == [t == "O" or t[0] in "ES" for t in tags.tags]


def random_batch(word_width: int, lengths, n_words: int = 7, seed: int = 0):
    """Flat inputs for DTNNetwork.forward: N tokens of len(lengths) sentences."""
    gen = torch.Generator().manual_seed(seed)
    n_tokens = sum(lengths)
    char_lengths = torch.randint(1, 6, (n_words,), generator=gen)
    char_ids = torch.zeros(n_words, 5, dtype=torch.long)
    for i, n in enumerate(char_lengths.tolist()):
        char_ids[i, :n] = torch.randint(1, 50, (n,), generator=gen)
    token_index = torch.randint(0, n_words, (n_tokens,), generator=gen)
    words = torch.randn(n_tokens, word_width, generator=gen)
    return words, char_ids, char_lengths, token_index, torch.tensor(lengths)


def test_packing_round_trips_flat_order():
    from spacy_dtn.nn.packing import Packing

    packing = Packing.from_lengths(torch.tensor([2, 3, 1]), torch.device("cpu"))
    # Flat tokens: s0 = 0 1, s1 = 2 3 4, s2 = 5. Packed, longest first: t0: s1 s0 s2,
    # t1: s1 s0, t2: s1.
    assert packing.steps == [3, 2, 1]
    assert packing.gather.tolist() == [2, 0, 5, 3, 1, 4]
    flat = torch.arange(6)
    assert torch.equal(flat[packing.gather][packing.scatter], flat)


@pytest.mark.parametrize("sharing", ["dtn", "dtn_hs", "HIS", "baseline"])
def test_greedy_decoding_is_valid_and_matches_the_teacher_forced_decoder(sharing):
    torch.manual_seed(1)
    labels = {"target": ["A", "B", "C"], "source": ["B"]}
    net = DTNNetwork(NetworkConfig(word_width=6, sharing=sharing), "target", labels).eval()
    with torch.no_grad():  # sharpen the output layer so that constraints matter
        net.decoder.output["target"].weight.mul_(20)
    lengths = [7, 1, 4, 7, 2]
    batch = random_batch(6, lengths)
    with torch.no_grad():
        tags, _ = net(*batch, task="target")
        h, packing, _, _ = net.encode(*batch, task="target")
        logits = net.teacher_forced_logits("target", h, packing, tags.clone())
    tagset = net.tagsets["target"]
    allowed, end_ok = tag_masks(tagset)
    start = 0
    for n in lengths:
        seq = [tagset.tags[i] for i in tags[start:start + n].tolist()]
        assert is_valid_iobes(seq), seq
        # The explicit LSTM cell of greedy decoding equals nn.LSTM under teacher forcing.
        prev = tagset.start
        for t in range(n):
            mask = allowed[prev] & (end_ok if t == n - 1 else torch.ones_like(end_ok))
            best = logits[start + t].masked_fill(~mask, float("-inf")).argmax().item()
            assert best == tags[start + t].item()
            prev = best
        start += n


def test_a_sentence_is_tagged_the_same_alone_and_in_a_batch():
    torch.manual_seed(2)
    net = DTNNetwork(NetworkConfig(word_width=6), "target", {"target": ["A", "B"]}).eval()
    words, char_ids, char_lengths, token_index, lengths = random_batch(6, [3, 5, 2])
    with torch.no_grad():
        batched, gates = net(words, char_ids, char_lengths, token_index, lengths, "target",
                             return_gates=True)
        alone, alone_gates = net(words[3:8], char_ids, char_lengths, token_index[3:8],
                                 torch.tensor([5]), "target", return_gates=True)
    assert torch.equal(batched[3:8], alone)
    for name in gates:
        assert torch.allclose(gates[name][3:8], alone_gates[name], atol=1e-6)


def test_dropping_sources_keeps_target_predictions_and_removes_parameters():
    torch.manual_seed(0)
    net = DTNNetwork(NetworkConfig(word_width=6), "target",
                     {"target": ["A", "B"], "source": ["C"]}).eval()
    batch = random_batch(6, [5, 3, 1])
    with torch.no_grad():
        before, gates_before = net(*batch, task="target", return_gates=True)
    n_before = sum(p.numel() for p in net.parameters())
    net.drop_sources()
    assert not any(".source" in name for name, _ in net.named_parameters())
    with torch.no_grad():
        after, gates_after = net(*batch, task="target", return_gates=True)
    assert torch.equal(before, after)
    assert all(torch.equal(gates_before[k], gates_after[k]) for k in gates_before)
    assert sum(p.numel() for p in net.parameters()) < n_before
    assert set(gates_after) == {
        f"{c}_{g}" for c in ("char", "word", "decoder") for g in ("g1", "g2")
    }


def reference_tags(net, words, char_ids, char_lengths, token_index, lengths, task="target"):
    """The paper's network run naively: one word, one sentence, one decoder step at a time.

    No packing, no precomputed projections, no batching: the oracle that the fast
    inference path must match exactly.
    """
    def run(component, task, inputs, a, call):
        outputs = [call(rnn, inputs) for rnn in component.shared.paths(task)]
        return component.shared.combine(task, outputs, a)[0]

    word_vectors = []
    for u in range(char_ids.shape[0]):
        emb = net.char.embed(char_ids[u : u + 1, : char_lengths[u]])
        h_c = run(net.char, task, emb, emb.mean(1),
                  lambda rnn, x: torch.cat(list(rnn(x)[1][0][:, 0]), dim=-1)[None])
        word_vectors.append(net.norm(h_c[0]))
    tagset = net.tagsets[task]
    allowed, end_ok = tag_masks(tagset)
    tags, start = [], 0
    for n in lengths.tolist():
        m = torch.stack([torch.cat([word_vectors[int(token_index[start + t])], words[start + t]])
                         for t in range(n)])[None]
        h = net.norm(run(net.word, task, m, m, lambda rnn, x: rnn(x)[0])[0])
        states = {id(rnn): None for rnn in net.decoder.shared.paths(task)}
        prev = tagset.start
        for t in range(n):
            x = torch.cat([h[t], net.decoder.tag_table(task)[prev]])[None, None]

            def step(rnn, x):
                out, states[id(rnn)] = rnn(x, states[id(rnn)])
                return out

            o = run(net.decoder, task, x, x, step)
            mask = allowed[prev] & (end_ok if t == n - 1 else torch.ones_like(end_ok))
            logits = net.decoder.logits(task, net.norm(o[0, 0]))
            prev = logits.masked_fill(~mask, float("-inf")).argmax().item()
            tags.append(prev)
        start += n
    return tags


@pytest.mark.parametrize("sharing", ["dtn", "dtn_hs", "SHI"])
def test_fast_inference_path_predicts_exactly_what_the_naive_network_does(sharing):
    torch.manual_seed(3)
    net = DTNNetwork(NetworkConfig(word_width=6, sharing=sharing), "target",
                     {"target": ["A", "B", "C"], "source": ["C"]}).eval()
    with torch.no_grad():
        net.decoder.output["target"].weight.mul_(10)
        batch = random_batch(6, [6, 2, 9, 1, 4], n_words=11, seed=5)
        fast, _ = net(*batch, task="target")
        assert fast.tolist() == reference_tags(net, *batch)


def test_label_map_ties_the_source_rows_to_the_target_rows():
    """T-A: a source label of the same name reads the target's tag embedding and output rows."""
    from spacy_dtn.iobes import TagSet
    from spacy_dtn.label_maps import tied_tags

    target, source = TagSet(["Chemical", "Disease"]), TagSet(["Disease", "Gene"])
    # target tags: O, B/I/E/S-Chemical (1-4), B/I/E/S-Disease (5-8); start 9
    # source tags: O, B/I/E/S-Disease (1-4), B/I/E/S-Gene (5-8); start 9
    assert tied_tags(source, target, "name") == [0, 5, 6, 7, 8, -1, -1, -1, -1, 9]
    assert tied_tags(source, target, {"Gene": "Chemical"}) == [0, -1, -1, -1, -1, 1, 2, 3, 4, 9]
    assert tied_tags(source, target, {"Nope": "Disease"}) == [-1] * 10
    torch.manual_seed(0)
    labels = {"target": ["Chemical", "Disease"], "source": ["Disease", "Gene"]}
    net = DTNNetwork(NetworkConfig(word_width=6, label_map="name"), "target", labels)
    dec = net.decoder
    assert dec.output["source"].weight.shape[0] == 4  # the Gene tags only
    assert dec.tag_embed["source"].weight.shape[0] == 4
    o = torch.randn(3, net.config.decoder_hidden)
    src, tgt = dec.logits("source", o), dec.logits("target", o)
    assert torch.allclose(src[:, :5], tgt[:, [0, 5, 6, 7, 8]], atol=1e-6)
    assert torch.equal(dec.tag_table("source")[[0, 1, 9]], dec.tag_table("target")[[0, 5, 9]])
    # a source batch trains the target's Disease rows
    batch = random_batch(6, [4, 2])
    loss, _ = net(*batch, task="source", gold=torch.tensor([0, 1, 2, 4, 0, 5]))
    loss.backward()
    assert dec.output["target"].weight.grad[5].abs().sum() > 0
    assert dec.output["target"].weight.grad[1].abs().sum() == 0  # B-Chemical: not in source
    # without a map nothing is tied
    plain = DTNNetwork(NetworkConfig(word_width=6), "target", labels).decoder
    assert plain.output["source"].weight.shape[0] == 9 and plain.tied == []


def test_normalized_network_still_matches_the_naive_oracle():
    torch.manual_seed(4)
    net = DTNNetwork(NetworkConfig(word_width=6, sharing="dtn", normalize=True, label_map="name"),
                     "target", {"target": ["A", "C"], "source": ["C"]}).eval()
    with torch.no_grad():
        net.decoder.output["target"].weight.mul_(3)
        batch = random_batch(6, [6, 2, 9, 1, 4], n_words=11, seed=6)
        fast, _ = net(*batch, task="target")
        assert fast.tolist() == reference_tags(net, *batch)
        fast, _ = net(*batch, task="source")
        assert fast.tolist() == reference_tags(net, *batch, task="source")


def test_the_iobes_codec_by_hand():
    from spacy_dtn.iobes import TagSet, biluo_to_iobes, iobes_error, iobes_to_biluo

    tagset = TagSet(["Disease", "Chemical"])  # O, then B/I/E/S per label, labels sorted
    assert tagset.tags[:6] == ["O", "B-Chemical", "I-Chemical", "E-Chemical", "S-Chemical",
                               "B-Disease"]
    biluo = ["U-Chemical", "O", "B-Disease", "I-Disease", "L-Disease", None, "-", "U-Gene"]
    ids = tagset.encode(biluo)
    assert ids == [4, 0, 5, 6, 7, -1, -1, -1]  # missing and unknown labels: -1
    assert tagset.decode([4, 0, 5, 6, 7, 1, 3]) == [
        (0, 1, "Chemical"), (2, 5, "Disease"), (5, 7, "Chemical")]
    assert [biluo_to_iobes(t) for t in ("U-X", "L-X", "B-X", "I-X", "O")] == \
        ["S-X", "E-X", "B-X", "I-X", "O"]
    assert all(iobes_to_biluo(biluo_to_iobes(t)) == t for t in ("U-X", "L-X", "B-X", "O"))
    assert iobes_error(["B-X", "E-X", "S-Y", "O"]) is None
    assert iobes_error(["O", "I-X", "E-X"]) == (
        1, "tag 'I-X' continues nothing (IOBES needs B-X first)")
    assert iobes_error(["B-X", "O"]) == (0, "tag 'B-X' is not closed by E-X (IOBES)")
    assert iobes_error(["O", "L-X"]) == (1, "unknown tag 'L-X' for scheme IOBES")


def test_train_and_eval_reach_every_module_also_after_dropping_sources():
    net = DTNNetwork(NetworkConfig(word_width=6), "target", {"target": ["A"], "source": ["C"]})
    assert net.eval() is net
    assert not any(module.training for module in net.modules())
    net.train()
    assert all(module.training for module in net.modules())
    net.drop_sources()
    net.eval()
    assert not any(module.training for module in net.modules())
    assert "source" not in net.char.shared.soft
    with pytest.raises(ValueError):
        net.train("yes")
