"""One component (character encoder, word encoder or decoder) under one sharing scheme.

The component owns the recurrent modules its scheme needs and says which of them a task
runs (:meth:`SharedComponent.paths`) and how their outputs become the task's output
(:meth:`SharedComponent.combine`). The encoders and the decoder decide *how* a recurrent
module is run (packed, step by step, ...); this class only decides *which* and *how mixed*.

Schemes (paper, "Tunable Transfer Network" and "Dynamic Transfer Network"):

* ``I``: one module per task; no transfer.
* ``H``: one module for every task.
* ``S``: one module per task, plus the penalty ``‖θ_target − θ_source‖²``.
* ``dtn``: target runs soft, hard and independent modules, mixed by the gates g1 (eq. 1-2)
  and g2 (eq. 3-4); a source runs its soft module and the hard one, summed.
* ``dtn_hs``: as ``dtn`` without the independent module and g2: the target's output is
  ``o_shared``.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

Gates = Dict[str, torch.Tensor]


class SharedComponent(nn.Module):
    def __init__(
        self,
        scheme: str,
        make_rnn: Callable[[], nn.Module],
        *,
        target: str,
        sources: Sequence[str],
        out_width: int,
        gate_input_width: int,
    ):
        super().__init__()
        self.scheme = scheme
        self.target = target
        self.sources: List[str] = list(sources)
        self.out_width = out_width  # a plain attribute: not saved
        tasks = [target] + self.sources
        if scheme in ("I", "S"):
            self.own = nn.ModuleDict({task: make_rnn() for task in tasks})
        elif scheme == "H":
            self.hard = make_rnn()
        elif scheme in ("dtn", "dtn_hs"):
            self.hard = make_rnn()
            self.soft = nn.ModuleDict({task: make_rnn() for task in tasks})
            # g1 = σ(Qᵀh_soft + Rᵀh_hard + Sᵀa + b): one linear map over [h_soft; h_hard; a].
            self.gate1 = nn.Linear(2 * out_width + gate_input_width, 1)
            if scheme == "dtn":
                self.ind = make_rnn()
                # g2 = σ(Tᵀh_ind + Uᵀo_shared + Vᵀa + b): one linear map over [h_ind; o_shared; a].
                self.gate2 = nn.Linear(2 * out_width + gate_input_width, 1)
        else:
            raise ValueError(f"Unknown sharing scheme {scheme!r}")

    def paths(self, task: str) -> List[nn.Module]:
        """The recurrent modules ``task`` runs, in the order :meth:`combine` expects."""
        if self.scheme in ("I", "S"):
            return [self.own[task]]
        if self.scheme == "H":
            return [self.hard]
        paths = [self.soft[task], self.hard]
        if task == self.target and self.scheme == "dtn":
            paths.append(self.ind)
        return paths

    def combine(
        self, task: str, outputs: List[torch.Tensor], a: torch.Tensor
    ) -> Tuple[torch.Tensor, Gates]:
        """The task's output from its paths' outputs; ``a`` is the component's input.

        Returns the output and, for the target under a DTN scheme, the gate values
        (``g1``, ``g2``; one scalar per position, shape ``outputs[0].shape[:-1]``).
        """
        if self.scheme in ("I", "S", "H"):
            return outputs[0], {}
        h_soft, h_hard = outputs[0], outputs[1]
        if task != self.target:
            return h_hard + h_soft, {}
        g1 = torch.sigmoid(self.gate1(torch.cat([h_soft, h_hard, a], dim=-1)))
        o_shared = (1 - g1) * h_hard + g1 * h_soft
        gates = {"g1": g1.squeeze(-1)}
        if self.scheme == "dtn_hs":
            return o_shared, gates
        h_ind = outputs[2]
        g2 = torch.sigmoid(self.gate2(torch.cat([h_ind, o_shared, a], dim=-1)))
        gates["g2"] = g2.squeeze(-1)
        return (1 - g2) * h_ind + g2 * o_shared, gates

    def gate_layers(self, task: str) -> List[nn.Linear]:
        """The task's gate layers in the order :meth:`combine` applies them (may be empty)."""
        if task != self.target or self.scheme not in ("dtn", "dtn_hs"):
            return []
        return [self.gate1] + ([self.gate2] if self.scheme == "dtn" else [])

    def stepper(
        self, task: str
    ) -> Callable[[Sequence[torch.Tensor], torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """:meth:`combine` for a step-by-step loop, with the weights bound once per batch.

        Each gate's term over ``a`` (and its bias) is linear in ``a``, so a caller that
        knows ``a`` in advance computes it once for every position; the returned function
        takes the paths' outputs and those terms, ``gate_terms`` (k, n_gates) in the order of
        :meth:`gate_layers`, and returns the output and the gate values ((k, 1) each). Gates
        are ``σ(W_out · [x; y] + (W_a · a + b))`` and mixes ``x + g (y - x)``: the same
        values as :meth:`combine`'s, up to the order in which floats are added.
        """
        if self.scheme in ("I", "S", "H"):
            return lambda outputs, gate_terms: (outputs[0], [])
        if task != self.target:
            return lambda outputs, gate_terms: (outputs[1] + outputs[0], [])
        cat, addmm, addcmul, sigmoid = torch.cat, torch.addmm, torch.addcmul, torch.sigmoid
        w1 = self.gate1.weight[:, : 2 * self.out_width].t()
        with_ind = self.scheme == "dtn"
        w2 = self.gate2.weight[:, : 2 * self.out_width].t() if with_ind else None

        def step(outputs, gate_terms):
            # (1 - g) x + g y as x + g (y - x): two calls in place of four
            h_soft, h_hard = outputs[0], outputs[1]
            g1 = sigmoid(addmm(gate_terms[:, 0:1], cat([h_soft, h_hard], dim=-1), w1))
            o_shared = addcmul(h_hard, g1, h_soft - h_hard)
            if not with_ind:
                return o_shared, [g1]
            h_ind = outputs[2]
            g2 = sigmoid(addmm(gate_terms[:, 1:2], cat([h_ind, o_shared], dim=-1), w2))
            return addcmul(h_ind, g2, o_shared - h_ind), [g1, g2]

        return step

    def share_penalty(self) -> Optional[torch.Tensor]:
        """``Σ_sources ‖θ_target − θ_source‖²`` over the soft modules; None without any."""
        coupled = self.own if self.scheme == "S" else getattr(self, "soft", None)
        if coupled is None or not self.sources:
            return None
        total = None
        for source in self.sources:
            for p_t, p_s in zip(coupled[self.target].parameters(), coupled[source].parameters()):
                term = (p_t - p_s).pow(2).sum()
                total = term if total is None else total + term
        return total

    def drop_sources(self) -> None:
        """Delete every source-only module; what the target runs is left as it was."""
        for source in self.sources:
            for name in ("own", "soft"):
                modules = getattr(self, name, None)
                if modules is not None and source in modules:
                    del modules[source]
        self.sources = []
