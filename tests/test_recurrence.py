"""The fused training recurrence against ``nn.LSTM``: outputs, final states and gradients."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from spacy_dtn.nn import DTNNetwork, NetworkConfig, recurrence
from spacy_dtn.nn.packing import Packing


def lstms_and_batch(lengths, bidirectional, n_lstms=3, width=5, hidden=4, seed=0):
    torch.manual_seed(seed)
    lstms = [
        nn.LSTM(width, hidden, batch_first=True, bidirectional=bidirectional)
        for _ in range(n_lstms)
    ]
    flat = torch.randn(sum(lengths), width, requires_grad=True)
    packing = Packing.from_lengths(torch.tensor(lengths), torch.device("cpu"))
    return lstms, flat, packing


def parameters(lstms):
    return [p for lstm in lstms for p in lstm.parameters()]


def assert_same_values_and_gradients(expected, got, inputs):
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        torch.testing.assert_close(g, e, rtol=0, atol=1e-6)
    weights = [torch.randn_like(e) for e in expected]
    grads_expected = torch.autograd.grad(
        sum((e * w).sum() for e, w in zip(expected, weights)), inputs, retain_graph=True
    )
    grads_got = torch.autograd.grad(sum((g * w).sum() for g, w in zip(got, weights)), inputs)
    for e, g in zip(grads_expected, grads_got):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5)


def test_reverse_and_last_index_by_hand():
    # lengths 3, 2, 1 (sorted): packed positions t0: 0 1 2, t1: 3 4, t2: 5
    steps = [3, 2, 1]
    # rank 0 reversed reads its tokens at times 2, 1, 0 = positions 5, 3, 0; rank 1 reads
    # times 1, 0 = positions 4, 1; rank 2 reads position 2.
    assert recurrence.reverse_index(steps, torch.device("cpu")).tolist() == [5, 4, 2, 3, 1, 0]
    assert recurrence.last_index(steps, torch.device("cpu")).tolist() == [5, 4, 2]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("lengths", [[7, 1, 4, 7, 2], [5], [3, 3, 3]])
def test_sequence_outputs_equal_nn_lstm_with_gradients(bidirectional, lengths):
    lstms, flat, packing = lstms_and_batch(lengths, bidirectional)
    x = flat[packing.gather]
    sequence = packing.pack(x)
    expected = [lstm(sequence)[0].data for lstm in lstms]
    got = recurrence.sequence_outputs(lstms, x, packing.steps)
    assert_same_values_and_gradients(expected, got, [flat] + parameters(lstms))


def test_final_states_equal_nn_lstm_h_n_with_gradients():
    lengths = [2, 6, 1, 6, 3, 4]
    lstms, _, _ = lstms_and_batch([1], True, n_lstms=2)
    padded = torch.randn(len(lengths), max(lengths), 5, requires_grad=True)
    lengths_t = torch.tensor(lengths)
    packed = pack_padded_sequence(padded, lengths_t, batch_first=True, enforce_sorted=False)
    expected = []
    for lstm in lstms:
        _, (h_n, _) = lstm(packed)
        expected.append(torch.cat([h_n[0], h_n[1]], dim=-1))
    packing = Packing.from_lengths(lengths_t, torch.device("cpu"))
    in_sequence = torch.arange(max(lengths)) < lengths_t[:, None]
    x = padded[in_sequence][packing.gather]
    got = recurrence.final_states(lstms, x, packing.steps, packing.unsorted_indices)
    assert_same_values_and_gradients(expected, got, [padded] + parameters(lstms))


def random_batch(word_width, lengths, n_words=9, seed=0):
    gen = torch.Generator().manual_seed(seed)
    char_lengths = torch.randint(1, 8, (n_words,), generator=gen)
    char_ids = torch.zeros(n_words, 7, dtype=torch.long)
    for i, n in enumerate(char_lengths.tolist()):
        char_ids[i, :n] = torch.randint(1, 50, (n,), generator=gen)
    token_index = torch.randint(0, n_words, (sum(lengths),), generator=gen)
    words = torch.randn(sum(lengths), word_width, generator=gen)
    gold = torch.randint(-1, 5, (sum(lengths),), generator=gen)
    return (words, char_ids, char_lengths, token_index, torch.tensor(lengths)), gold


@pytest.mark.parametrize("decoder", ["lstm", "crf"])
@pytest.mark.parametrize("sharing", ["dtn", "HIS"])
def test_the_network_loss_and_gradients_are_those_of_nn_lstm(monkeypatch, sharing, decoder):
    """The whole network in training: the fused path against ``nn.LSTM`` for every LSTM."""
    torch.manual_seed(3)
    labels = {"target": ["A", "B"], "source": ["B"]}
    config = NetworkConfig(word_width=6, sharing=sharing, decoder=decoder, dropout=0.0)
    net = DTNNetwork(config, "target", labels)
    batch, gold = random_batch(6, [7, 1, 4, 7, 2])
    results = {}
    for use_fused in (True, False):
        monkeypatch.setattr(recurrence, "fused", lambda x, use=use_fused: use)
        net.zero_grad()
        loss, penalty = net(*batch, task="target", gold=gold)
        (loss + penalty).backward()
        results[use_fused] = (loss.detach(), [p.grad.clone() for p in net.parameters()
                                              if p.grad is not None])
    torch.testing.assert_close(results[True][0], results[False][0], rtol=0, atol=1e-6)
    assert len(results[True][1]) == len(results[False][1]) > 0
    for fused, reference in zip(results[True][1], results[False][1]):
        torch.testing.assert_close(fused, reference, rtol=0, atol=1e-5)


def test_the_fused_path_runs_in_training_only():
    x = torch.zeros(2, 3)
    assert recurrence.fused(x)
    with torch.no_grad():
        assert not recurrence.fused(x)


def test_a_second_backward_is_a_clear_error():
    lstms, flat, packing = lstms_and_batch([3, 2], True, n_lstms=1)
    out = recurrence.sequence_outputs(lstms, flat[packing.gather], packing.steps)[0].sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="ran twice"):
        out.backward()
