"""The CRF output (``decoder = "crf"``): its packed forward algorithm, partial-label
likelihood and Viterbi against brute-force enumeration, and the network built on it."""
import itertools
import math

import pytest
import torch

from spacy_dtn.nn import DTNNetwork, NetworkConfig, TagSet
from spacy_dtn.nn import crf
from spacy_dtn.iobes import is_valid_iobes
from spacy_dtn.nn.packing import Packing

from test_nn import random_batch


def brute_force(emissions, lengths, tagset, transitions, end, gold=None):
    """Per sentence (flat order): log Z over valid IOBES paths, the best valid path, and the
    log of the summed scores of the valid paths that agree with ``gold`` (-1: any tag)."""
    n = len(tagset)
    allowed, end_ok = crf.tag_masks(tagset)
    results, start = [], 0
    for length in lengths:
        scores = {}
        for path in itertools.product(range(n), repeat=length):
            prev, valid, score = n, True, 0.0
            for t, tag in enumerate(path):
                valid &= bool(allowed[prev, tag])
                score += float(transitions[prev, tag]) + float(emissions[start + t, tag])
                prev = tag
            valid &= bool(end_ok[path[-1]])
            if valid:
                scores[path] = score + float(end[path[-1]])
        log_z = math.log(sum(math.exp(s) for s in scores.values()))
        best = max(scores, key=scores.get)
        agree = None
        if gold is not None:
            g = gold[start:start + length].tolist()
            kept = [s for p, s in scores.items() if all(x < 0 or x == y for x, y in zip(g, p))]
            agree = math.log(sum(math.exp(s) for s in kept))
        results.append((log_z, list(best), agree))
        start += length
    return results


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(3)
    tagset = TagSet(["X"])  # O, B-X, I-X, E-X, S-X
    lengths = [3, 1, 4, 2]
    emissions = torch.randn(sum(lengths), len(tagset), generator=gen) * 2
    transitions = torch.randn(len(tagset) + 1, len(tagset), generator=gen)
    end = torch.randn(len(tagset), generator=gen)
    return tagset, lengths, emissions, transitions, end


def test_forward_algorithm_viterbi_and_partial_likelihood_match_enumeration(problem):
    tagset, lengths, emissions, transitions, end = problem
    # gold: sentence 0 fully known, sentence 2 partly (-1), sentences 1 and 3 unknown.
    gold = torch.tensor([1, 2, 3, -1, 0, -1, 1, -1, -1, -1])
    expected = brute_force(emissions, lengths, tagset, transitions, end, gold)
    packing = Packing.from_lengths(torch.tensor(lengths), torch.device("cpu"))
    scores = crf.constrained_scores(transitions, end, *crf.tag_masks(tagset))
    packed = emissions[packing.gather]
    log_z = crf.log_partition(packed, packing.steps, *scores)[packing.unsorted_indices]
    assert log_z.tolist() == pytest.approx([e[0] for e in expected], abs=1e-4)
    tags = crf.viterbi(packed, packing.steps, *scores)[packing.scatter].tolist()
    assert tags == [t for e in expected for t in e[1]]
    nll = crf.negative_log_likelihood(packed, gold[packing.gather], packing.steps, *scores)
    # unknown sentences contribute log Z - log Z = 0
    assert float(nll) == pytest.approx(sum(e[0] - e[2] for e in expected), abs=1e-4)
    # every tag known: the gold path's own score (its faster path) gives the same value
    full = torch.tensor([1, 2, 3, 4, 0, 1, 3, 0, 0, 4])
    expected = brute_force(emissions, lengths, tagset, transitions, end, full)
    nll = crf.negative_log_likelihood(packed, full[packing.gather], packing.steps, *scores)
    assert float(nll) == pytest.approx(sum(e[0] - e[2] for e in expected), abs=1e-4)


def test_viterbi_never_takes_a_forbidden_transition():
    tagset = TagSet(["X", "Y"])
    lengths = [5, 2, 1]
    # Emissions that favour I-X everywhere, which no sentence may start or end with.
    emissions = torch.zeros(sum(lengths), len(tagset))
    emissions[:, tagset.index["I-X"]] = 50.0
    packing = Packing.from_lengths(torch.tensor(lengths), torch.device("cpu"))
    scores = crf.constrained_scores(
        torch.zeros(len(tagset) + 1, len(tagset)), torch.zeros(len(tagset)),
        *crf.tag_masks(tagset),
    )
    tags = crf.viterbi(emissions[packing.gather], packing.steps, *scores)[packing.scatter]
    start = 0
    for n in lengths:
        sequence = [tagset.tags[i] for i in tags[start:start + n].tolist()]
        assert is_valid_iobes(sequence), sequence
        start += n
    assert [tagset.tags[i] for i in tags[:5].tolist()] == ["B-X", "I-X", "I-X", "I-X", "E-X"]


def crf_network(sharing="dtn", **kwargs):
    torch.manual_seed(0)
    config = NetworkConfig(word_width=6, sharing=sharing, decoder="crf", normalize=True, **kwargs)
    return DTNNetwork(config, "target", {"target": ["A", "B"], "source": ["B"]})


@pytest.mark.parametrize("sharing", ["dtn", "dtn_hs", "baseline", "HIS"])
def test_crf_network_tags_validly_and_a_sentence_alone_as_in_a_batch(sharing):
    net = crf_network(sharing).eval()
    assert not hasattr(net.decoder, "tag_embed")
    words, char_ids, char_lengths, token_index, lengths = random_batch(6, [3, 5, 2])
    with torch.no_grad():
        batched, gates = net(words, char_ids, char_lengths, token_index, lengths, "target",
                             return_gates=True)
        alone, _ = net(words[3:8], char_ids, char_lengths, token_index[3:8],
                       torch.tensor([5]), "target")
    assert torch.equal(batched[3:8], alone)
    tagset = net.tagsets["target"]
    for s, e in ((0, 3), (3, 8), (8, 10)):
        assert is_valid_iobes([tagset.tags[i] for i in batched[s:e].tolist()])
    if sharing == "dtn":
        assert set(gates) == {f"{c}_{g}" for c in ("char", "word", "decoder") for g in ("g1", "g2")}


def test_crf_network_fits_a_small_batch_and_drops_its_source():
    net = crf_network(label_map="name")
    batch = random_batch(6, [4, 3, 5], seed=1)
    tagset = net.tagsets["target"]
    gold_tags = ["B-A", "I-A", "E-A", "O", "S-B", "O", "O", "O", "B-B", "E-B", "O", "S-A"]
    gold = torch.tensor([tagset.index[t] for t in gold_tags])
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss, penalty = net(*batch, task="target", gold=gold)
        losses.append(float(loss.detach()))
        (loss + penalty).backward()
        optimizer.step()
    assert losses[-1] < 0.1 * losses[0]
    # a source batch (its own tags) reaches the target's output rows of the tied label B
    net.zero_grad()
    source_gold = torch.tensor([0, 1, 3, 0, 4, 0, 0, 0, 0, 0, 0, 4])
    loss, _ = net(*batch, task="source", gold=source_gold)
    loss.backward()
    b_rows = [tagset.index[f"{p}-B"] for p in "BIES"]
    assert net.decoder.output["target"].weight.grad[b_rows].abs().sum() > 0
    assert net.decoder.transitions["target"].grad is None
    net.eval()
    with torch.no_grad():
        tags, _ = net(*batch, task="target")
    assert tags.tolist() == gold.tolist()
    net.drop_sources()
    assert list(net.decoder.transitions) == ["target"]
    with torch.no_grad():
        assert net(*batch, task="target")[0].tolist() == gold.tolist()
