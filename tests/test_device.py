"""Device handling without a GPU: torch's ``meta`` device stands in for CUDA.

A meta tensor has a shape, a dtype and a device but no data, so

* a forward or backward pass on meta inputs fails at the first ``.item()`` / ``.tolist()`` /
  ``.cpu()`` of a device tensor (a host sync) and at most ops that mix in a CPU tensor;
* where torch would silently accept a CPU tensor next to a device one (an index tensor, say:
  on CUDA that is a hidden host-to-device copy), :class:`DeviceAudit`, a
  ``TorchDispatchMode``, sees every aten op with the devices of its inputs and outputs.

What the tests require of the network (``spacy_dtn.nn``): the only CPU tensors are the
documented lengths and the integer index arithmetic done on them once per batch
(:class:`spacy_dtn.nn.packing.Packing`, ``pack_padded_sequence``); they reach the device by a
fixed number of copies per batch, never per decoding step; no float data is ever on the CPU;
and nothing comes back from the device. Then the same through Thinc (``_convert_inputs`` and
the shim), the mixed-precision switch, and loading weights onto the current device with
``weights_only``.
"""
import io
import pickle

import pytest
import spacy
import srsly
import torch
from spacy.tokens import Span
from spacy.training import Example
from thinc.api import fix_random_seed
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from spacy_dtn import set_task
from spacy_dtn.layers.tagger import DTNInput, _featurize, get_network
from spacy_dtn.layers.network_shim import read_state_dict
from spacy_dtn.nn import DTNNetwork, NetworkConfig

DEVICE = torch.device("meta")
SMALL = dict(char_embed=4, char_hidden=3, word_hidden=5, decoder_hidden=4, tag_embed=3)
LABELS = {"target": ["Chemical", "Disease"], "source": ["Disease"]}


class DeviceAudit(TorchDispatchMode):
    """Records every aten op run inside it: name, and (device, dtype, shape) of its tensors."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        describe = lambda ts: [(t.device.type, t.dtype, tuple(t.shape)) for t in ts]  # noqa
        self.calls.append((str(func), describe(inputs), describe(outputs)))
        return out

    def problems(self, device: torch.device):
        """Ops that break the rules above, as readable strings (empty: all is well)."""
        found = []
        for name, inputs, outputs in self.calls:
            in_devices = {d for d, _, _ in inputs}
            out_devices = {d for d, _, _ in outputs}
            touches_device = device.type in in_devices | out_devices
            cpu_in = [t for t in inputs if t[0] == "cpu" and len(t[2]) > 0]
            cpu_out = [t for t in outputs if t[0] == "cpu"]
            if name == "aten._pack_padded_sequence.default":
                continue  # lengths in, batch_sizes out: CPU by PyTorch's contract
            if any(dtype.is_floating_point for _, dtype, _ in cpu_in + cpu_out):
                found.append(f"float data on the CPU: {name} {inputs} -> {outputs}")
            elif touches_device and cpu_out:
                found.append(f"device to host: {name} {inputs} -> {outputs}")
            elif touches_device and cpu_in and name != "aten._to_copy.default":
                found.append(f"CPU tensor mixed with {device.type} tensors: {name} {inputs}")
        return found

    def host_to_device_copies(self, device: torch.device) -> int:
        return sum(
            1 for name, inputs, outputs in self.calls
            if name == "aten._to_copy.default" and inputs[0][0] == "cpu"
            and outputs[0][0] == device.type
        )


def tiny_network(sharing: str = "dtn") -> DTNNetwork:
    torch.manual_seed(0)
    config = NetworkConfig(word_width=8, sharing=sharing, **SMALL)
    return DTNNetwork(config, "target", LABELS)


def network_inputs(lengths, n_words: int, device: torch.device, task: str = "target"):
    """A flat batch as ``_convert_inputs`` builds it: lengths on the CPU, the rest on device."""
    gen = torch.Generator().manual_seed(len(lengths))
    n_tokens = sum(lengths)
    char_lengths = torch.randint(1, 7, (n_words,), generator=gen)
    char_ids = torch.zeros(n_words, int(char_lengths.max()), dtype=torch.long)
    for i, n in enumerate(char_lengths.tolist()):
        char_ids[i, :n] = torch.randint(1, 50, (n,), generator=gen)
    n_tags = 1 + 4 * len(LABELS[task])
    return dict(
        words=torch.randn(n_tokens, 8, generator=gen).to(device).requires_grad_(),
        char_ids=char_ids.to(device),
        char_lengths=char_lengths,
        token_index=torch.randint(0, n_words, (n_tokens,), generator=gen).to(device),
        lengths=torch.tensor(lengths),
        task=task,
        gold=torch.randint(-1, n_tags, (n_tokens,), generator=gen).to(device),
    )


def train_and_predict(network: DTNNetwork, inputs: dict):
    """One teacher-forced pass with backward, then greedy decoding with gates."""
    network.train()
    loss, penalty = network(**inputs)
    (loss + (penalty if penalty is not None else 0.0)).backward()
    network.eval()
    predict_inputs = {k: v for k, v in inputs.items() if k != "gold"}
    with torch.no_grad():
        tags, gates = network(**predict_inputs, return_gates=True)
    return loss, tags, gates


@pytest.mark.parametrize(
    "sharing,task",
    [("dtn", "target"), ("dtn", "source"), ("dtn_hs", "target"), ("baseline", "target"),
     ("SIH", "source")],
)
def test_network_runs_on_a_device_with_cpu_lengths(sharing, task):
    network = tiny_network(sharing).to(DEVICE)
    inputs = network_inputs([3, 5, 2], n_words=6, device=DEVICE, task=task)
    loss, tags, gates = train_and_predict(network, inputs)
    assert loss.device == DEVICE and loss.shape == ()  # a meta tensor has no value to check
    assert tags.device == DEVICE and tags.shape == (10,) and tags.dtype == torch.long
    assert all(v.device == DEVICE and v.shape == (10,) for v in gates.values())
    if task == "target" and sharing == "dtn":
        assert set(gates) == {f"{c}_{g}" for c in ("char", "word", "decoder") for g in ("g1", "g2")}
    assert inputs["words"].grad is not None and inputs["words"].grad.device == DEVICE
    assert all(p.grad is None or p.grad.device == DEVICE for p in network.parameters())


def test_no_cpu_tensor_meets_device_tensors_and_copies_do_not_grow_with_the_batch():
    """Training (with backward) and greedy decoding under the audit, on two batches.

    Nothing breaks the rules, and the host-to-device copies are a fixed number of small index
    tensors per pass, none per time step or per sentence.
    """
    network = tiny_network("dtn").to(DEVICE)
    counts = []
    for lengths, n_words in [([3, 5, 2], 6), ([4, 1, 7, 2, 3], 12)]:
        inputs = network_inputs(lengths, n_words=n_words, device=DEVICE)
        with DeviceAudit() as audit:
            train_and_predict(network, inputs)
        assert audit.calls, "the audit saw no op"
        assert audit.problems(DEVICE) == []
        counts.append(audit.host_to_device_copies(DEVICE))
    assert counts[0] == counts[1]
    assert counts[0] <= 16, counts  # 2 passes x (Packing's index tensors + packing's sort)


def test_the_audit_catches_a_cpu_tensor_on_the_device_path():
    """The audit itself: a CPU index into a device tensor (legal in torch) is reported."""
    x = torch.empty(4, 3, device=DEVICE)
    with DeviceAudit() as audit:
        x[torch.tensor([0, 2])]
        x.new_zeros(2) + torch.zeros(2, device=DEVICE)
    problems = audit.problems(DEVICE)
    assert len(problems) == 1 and "aten.index" in problems[0]
    with DeviceAudit() as audit:
        torch.zeros(3)  # float data created on the CPU
    assert audit.problems(DEVICE) and "float data" in audit.problems(DEVICE)[0]


# Through spaCy and Thinc ------------------------------------------------------------------

MODEL = {
    **SMALL,
    "tok2vec": {"width": 8, "rows": [500, 100, 200, 200], "include_static_vectors": False},
}


def make_examples(nlp):
    """Three target and two source sentences, by hand (entities: token spans)."""
    data = [
        ("target", "Aspirin induced asthma in two patients .",
         [(0, 1, "Chemical"), (2, 3, "Disease")]),
        ("target", "Cocaine caused acute heart failure .", [(0, 1, "Chemical"), (2, 5, "Disease")]),
        ("target", "No effect of lithium was seen .", [(3, 4, "Chemical")]),
        ("source", "Breast cancer runs in families .", [(0, 2, "Disease")]),
        ("source", "The patient had cystic fibrosis .", [(3, 5, "Disease")]),
    ]
    examples = []
    for task, text, ents in data:
        gold = nlp.make_doc(text)
        gold.ents = [Span(gold, s, e, label=label) for s, e, label in ents]
        if task != "target":
            set_task(gold, task)
        examples.append(Example(nlp.make_doc(text), gold))
    return examples


def make_nlp(**model):
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner", config={"model": {**MODEL, **model}})
    return nlp


@pytest.fixture
def small_nlp():
    fix_random_seed(0)
    nlp = make_nlp()
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    return nlp, examples


def entities(nlp, texts):
    return [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


def test_thinc_inputs_land_on_the_shim_device(small_nlp):
    """``_convert_inputs`` puts every array on the shim's device but the two CPU lengths."""
    nlp, examples = small_nlp
    model = nlp.get_pipe("dtn_ner").model
    wrapper = model.layers[1]
    get_network(model).to(DEVICE)
    assert wrapper.shims[0].device == DEVICE
    docs = [eg.predicted for eg in examples[:3]]
    tokvecs = model.get_ref("tok2vec").predict(docs)
    gold = [model.ops.asarray1i([0] * len(doc)) for doc in docs]
    batch = _featurize(model, DTNInput(docs, "target", gold), [0, 1, 2], tokvecs,
                       [len(d) for d in docs])
    inputs, _ = wrapper.attrs["convert_inputs"](wrapper, batch, True)
    words, char_ids, char_lengths, token_index, lengths = inputs.args
    for tensor in (words, char_ids, token_index, inputs.kwargs["gold"]):
        assert tensor.device == DEVICE
    assert char_lengths.device.type == "cpu" and lengths.device.type == "cpu"
    assert words.requires_grad
    # The shim runs the network on that device; the audit finds nothing on the CPU.
    with DeviceAudit() as audit:
        (loss, penalty), _ = wrapper.shims[0](inputs, is_train=True)
    assert loss.device == DEVICE and loss.shape == ()
    assert audit.problems(DEVICE) == []


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_mixed_precision_builds_a_scaling_shim_and_cpu_training_is_refused_clearly():
    fix_random_seed(0)
    nlp = make_nlp(mixed_precision=True)
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    shim = nlp.get_pipe("dtn_ner").model.layers[1].shims[0]
    assert shim._mixed_precision is True
    assert shim._grad_scaler._enabled is True
    plain = make_nlp()
    plain.initialize(lambda: examples)
    assert plain.get_pipe("dtn_ner").model.layers[1].shims[0]._mixed_precision is False
    # Inference is unaffected (autocast for CUDA is a no-op on the CPU).
    texts = [eg.reference.text for eg in examples]
    assert len(entities(nlp, texts)) == len(texts)
    if torch.cuda.is_available():  # pragma: no cover - GPU machines only
        pytest.skip("CPU-only check")
    # Training on the CPU: thinc's loss scaling is for CUDA only, and says so before any update.
    network = get_network(nlp.get_pipe("dtn_ner").model)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with pytest.raises(ValueError, match="GPU|CUDA"):
        nlp.update(examples[:3])
    after = network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# Saving and loading ----------------------------------------------------------------------

class _TagAsCuda:
    """While active, ``torch.save`` records every CPU storage as living on ``cuda:0``.

    That is what a file saved from a GPU holds; loading it on a CPU-only machine without
    ``map_location`` fails, so the tests can tell that the loader maps weights itself.
    """

    def __enter__(self):
        def tagger(storage):
            return "cuda:0" if storage.device.type == "cpu" else None

        def deserializer(storage, location):
            return None

        torch.serialization.register_package(-100, tagger, deserializer)
        self.entry = next(e for e in torch.serialization._package_registry if e[1] is tagger)
        return self

    def __exit__(self, *exc):
        torch.serialization._package_registry.remove(self.entry)
        return False


def shim_state(shim) -> bytes:
    """The ``torch.save`` bytes inside a shim's serialised form."""
    return srsly.msgpack_loads(shim.to_bytes())["state"]


def test_a_model_saved_on_gpu_loads_on_the_cpu(small_nlp):
    nlp, examples = small_nlp
    texts = [eg.reference.text for eg in examples] + ["Lithium and cancer ."]
    expected = entities(nlp, texts)
    shim = nlp.get_pipe("dtn_ner").model.layers[1].shims[0]
    with _TagAsCuda():
        pipeline_bytes = nlp.to_bytes()
        state = shim_state(shim)
    if not torch.cuda.is_available():
        # The bytes really claim CUDA: loaded without a map_location, they fail here.
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(state), weights_only=True)
    reloaded = make_nlp().from_bytes(pipeline_bytes)
    network = get_network(reloaded.get_pipe("dtn_ner").model)
    assert {p.device.type for p in network.parameters()} == {"cpu"}
    assert entities(reloaded, texts) == expected
    original = get_network(nlp.get_pipe("dtn_ner").model).state_dict()
    for name, value in network.state_dict().items():
        assert torch.equal(value, original[name]), name


def test_weights_are_mapped_to_the_current_device(small_nlp):
    nlp, _ = small_nlp
    shim = nlp.get_pipe("dtn_ner").model.layers[1].shims[0]
    state = read_state_dict(shim_state(shim), DEVICE)  # saved on the CPU
    assert {t.device for t in state.values()} == {DEVICE}
    target = get_network(nlp.get_pipe("dtn_ner").model)
    fresh = DTNNetwork(target.config, "target", nlp.get_pipe("dtn_ner").label_data).to(DEVICE)
    fresh.load_state_dict(state)
    assert {p.device for p in fresh.parameters()} == {DEVICE}
    assert {b.device for b in fresh.buffers()} == {DEVICE}


_CALLS = []


def _record(*args):  # what a malicious pickle would run instead
    _CALLS.append(args)
    return {}


class _Payload:
    def __reduce__(self):
        return (_record, ("loaded a pickled object",))


def test_loading_refuses_pickled_objects(small_nlp):
    nlp, _ = small_nlp
    shim = nlp.get_pipe("dtn_ner").model.layers[1].shims[0]
    buffer = io.BytesIO()
    torch.save({"char.embed.weight": _Payload()}, buffer)
    spec = srsly.msgpack_loads(shim.to_bytes())["network"]
    evil = srsly.msgpack_dumps({"network": spec, "state": buffer.getvalue()})
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only"):
        shim.from_bytes(evil)
    assert _CALLS == []
    # The genuine bytes still load (weights_only accepts plain state dicts).
    shim.from_bytes(shim.to_bytes())
