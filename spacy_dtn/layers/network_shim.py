"""The network's Thinc layer: a ``PyTorchWrapper`` around :class:`spacy_dtn.nn.DTNNetwork`.

Its shim builds, trains and saves the network; its ``convert_inputs``/``convert_outputs``
carry a :class:`NetworkBatch` into PyTorch by ``xp2torch`` on the shim's device (so the same
code runs under numpy and cupy) and the network's loss or tags and gates back.

As spacy-transformers' ``HFShim`` carries the transformer's config with its weights, this
shim saves what the network is built from (:class:`NetworkSpec`: sizes and rates, the target,
each task's labels, whether the sources were dropped) with its ``state_dict``, and rebuilds
the network from it on load. A saved pipeline therefore needs nothing outside its model to
load, and the component keeps no copy of the labels.
"""
import io
import os
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional

import numpy
import srsly
import torch
from thinc.api import (ArgsKwargs, Model, PyTorchGradScaler, PyTorchShim,
                       get_torch_default_device, torch2xp, xp2torch)
from thinc.layers.pytorchwrapper import forward as pytorch_forward

from ..nn import DTNNetwork, NetworkConfig


def _single_thread_after_fork() -> None:
    """``nlp.pipe(n_process=N)`` forks; an OpenMP pool used before the fork hangs the child.

    Each worker process is one of N anyway, so it runs PyTorch on one thread.
    """
    torch.set_num_threads(1)


_fork_hook = []  # registered once, by the first shim: a process without one never forks it


def _register_fork_hook() -> None:
    if not _fork_hook:
        os.register_at_fork(after_in_child=_single_thread_after_fork)
        _fork_hook.append(_single_thread_after_fork)


def build_network_layer(config: NetworkConfig, *, mixed_precision: bool = False) -> Model:
    """The ``PyTorchWrapper`` of a network of ``config``: input a :class:`NetworkBatch`,
    output the loss and penalty (training) or the tags and gates (prediction)."""
    return Model(
        "dtn_pytorch",
        pytorch_forward,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": _convert_outputs},
        shims=[NetworkShim(config, mixed_precision=mixed_precision)],
    )


@dataclass
class NetworkBatch:
    """A batch as the network reads it (the tagger featurises it from its docs)."""

    words: Any  # (N, W) xp floats, flat
    char_ids: Any  # (U, L) xp ints
    char_lengths: numpy.ndarray  # (U,)
    token_index: Any  # (N,) xp ints
    lengths: numpy.ndarray  # (B,)
    task: str
    gold: Any  # (N,) xp ints or None
    return_gates: bool


@dataclass
class NetworkSpec:
    """Everything a :class:`DTNNetwork` is built from; saved with its weights.

    ``labels`` are each task's labels as initialised, source tasks included when the sources
    have been dropped since (the network is rebuilt whole, then dropped, so that its
    parameters are the ones saved).
    """

    config: NetworkConfig
    target: str
    labels: Dict[str, List[str]]
    sources_dropped: bool = False

    def build(self) -> DTNNetwork:
        network = DTNNetwork(self.config, self.target, self.labels)
        if self.sources_dropped:
            network.drop_sources()
        return network

    def task_labels(self) -> Dict[str, List[str]]:
        """Each task's labels; the target's only once the sources are dropped."""
        if self.sources_dropped:
            return {self.target: list(self.labels[self.target])}
        return {task: list(labels) for task, labels in self.labels.items()}

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(), "target": self.target, "labels": self.labels,
            "sources_dropped": self.sources_dropped,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "NetworkSpec":
        return cls(
            config=NetworkConfig(**data["config"]), target=data["target"],
            labels={task: list(labels) for task, labels in data["labels"].items()},
            sources_dropped=data["sources_dropped"],
        )


class NetworkShim(PyTorchShim):
    """A PyTorchShim that owns its network's spec; the network exists once initialised.

    Its update touches only parameters that received a gradient: Thinc's shim zeroes
    gradients after an update, so Adam's momentum would keep moving, say, the target's
    independent LSTM during source batches. Clearing them to None instead keeps each task's
    own parameters still while the other task trains.

    ``drop_sources_on_load`` (the component's ``drop_source`` setting, not saved) drops the
    source-only parameters whenever weights are loaded.
    """

    def __init__(self, config: NetworkConfig, *, mixed_precision: bool = False):
        super().__init__(
            None, mixed_precision=mixed_precision,
            grad_scaler=PyTorchGradScaler(enabled=mixed_precision),
        )
        _register_fork_hook()
        self.config = config
        self.spec: Optional[NetworkSpec] = None
        self.drop_sources_on_load = False
        # Weights saved by 0.1.0's shim, which did not save the spec: the tagger model loads
        # them once it has read the spec from its own attributes.
        self.legacy_state: Optional[bytes] = None

    @property
    def network(self) -> Optional[DTNNetwork]:
        return self._model

    @property
    def device(self) -> torch.device:
        if self._model is None:
            return get_torch_default_device()
        return super().device

    def build(self, spec: NetworkSpec) -> DTNNetwork:
        """A fresh network for this spec, on the current device (replacing any earlier one)."""
        self.spec = spec
        self._model = spec.build().to(get_torch_default_device())
        return self._model

    def load(self, spec: NetworkSpec, state: bytes) -> DTNNetwork:
        """Build the network of ``spec`` and load ``state`` (``torch.save`` bytes) into it."""
        self.build(spec)
        return self._load_state(read_state_dict(state, get_torch_default_device()))

    def load_legacy(self, config: NetworkConfig, target: str, labels: Dict[str, List[str]]):
        """Load the weights saved by 0.1.0, given the spec it kept in the tagger's attributes.

        Whether the sources had been dropped, 0.1.0 kept in the component; the saved
        parameters tell it too: without the source-only ones, they were.
        """
        state, self.legacy_state = self.legacy_state, None
        self.build(NetworkSpec(config, target, labels))
        state_dict = read_state_dict(state, get_torch_default_device())
        if set(state_dict) != set(self._model.state_dict()):
            self.drop_sources()
        return self._load_state(state_dict)

    def _load_state(self, state_dict: Dict[str, torch.Tensor]) -> DTNNetwork:
        self._model.load_state_dict(state_dict)
        if self.drop_sources_on_load and not self.spec.sources_dropped:
            self.drop_sources()
        self._grad_scaler.to_(get_torch_default_device())
        return self._model

    def drop_sources(self) -> None:
        """Remove every source-only parameter; target predictions are unchanged."""
        self._model.drop_sources()
        self.spec = replace(self.spec, sources_dropped=True)

    def begin_update(self, inputs):
        if self._mixed_precision and self.device.type != "cuda":
            raise ValueError(
                "dtn_ner: mixed_precision = true trains on a CUDA GPU only (spacy train "
                f"--gpu-id N); the network is on {self.device}. Set "
                "components.dtn_ner.model.mixed_precision = false."
            )
        return super().begin_update(inputs)

    def finish_update(self, optimizer) -> None:
        super().finish_update(optimizer)
        for param in self._model.parameters():
            param.grad = None

    def to_device(self, device_type: str, device_id: int) -> None:
        if self._model is not None:
            super().to_device(device_type, device_id)

    def to_bytes(self) -> bytes:
        """The spec and the ``state_dict`` (both None before the network is built)."""
        msg = {"network": None, "state": None}
        if self._model is not None:
            buffer = io.BytesIO()
            torch.save(self._model.state_dict(), buffer)
            msg = {"network": self.spec.to_dict(), "state": buffer.getvalue()}
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> "NetworkShim":
        """Rebuild the saved network and load its weights (or keep 0.1.0's weights aside)."""
        msg = srsly.msgpack_loads(bytes_data)
        self._model, self.spec, self.legacy_state = None, None, None
        if "network" not in msg:  # Thinc's PyTorchShim format, as saved by 0.1.0
            self.legacy_state = msg["state"]
        elif msg["network"] is not None:
            spec = NetworkSpec.from_dict(msg["network"])
            # The saved spec fixes the network's shape; the training settings that shape no
            # parameter stay the config's, as in any spaCy pipeline (e.g. a sourced component
            # trained further with another dropout).
            spec.config = replace(
                spec.config, dropout=self.config.dropout, share_lambda=self.config.share_lambda
            )
            self.load(spec, msg["state"])
        return self


def read_state_dict(state: bytes, device: torch.device) -> Dict[str, torch.Tensor]:
    """Parameters only: ``weights_only`` refuses pickled objects; mapped to this device."""
    return torch.load(io.BytesIO(state), map_location=device, weights_only=True)


def _convert_inputs(model: Model, batch: NetworkBatch, is_train: bool):
    device = model.shims[0].device
    words = xp2torch(batch.words, requires_grad=is_train, device=device)
    kwargs = {"task": batch.task, "return_gates": batch.return_gates}
    if batch.gold is not None:
        kwargs["gold"] = xp2torch(batch.gold, device=device)
    args = (
        words,
        xp2torch(batch.char_ids, device=device),
        torch.from_numpy(batch.char_lengths),  # packing wants CPU lengths
        xp2torch(batch.token_index, device=device),
        torch.from_numpy(batch.lengths),
    )

    def reverse(d_inputs: ArgsKwargs):
        return torch2xp(d_inputs.args[0])

    return ArgsKwargs(args=args, kwargs=kwargs), reverse


def _convert_outputs(model: Model, inputs_outputs, is_train: bool):
    batch, (first, second) = inputs_outputs
    if batch.gold is None:
        gates = {name: torch2xp(value) for name, value in second.items()}
        return (torch2xp(first), gates), lambda d: None
    loss, penalty = first, second
    penalty_value = float(penalty.detach()) if penalty is not None else 0.0

    def backprop(d_loss: float) -> ArgsKwargs:
        tensors, grads = [loss], [torch.full_like(loss, d_loss)]
        if penalty is not None:
            tensors.append(penalty)
            grads.append(torch.full_like(penalty, d_loss))
        return ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads})

    return (float(loss.detach()), penalty_value), backprop
