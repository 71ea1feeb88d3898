"""The whole tagger: character encoder → word encoder → decoder, one scheme per component."""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from . import crf
from .decoder import Decoder
from .encoders import CharEncoder, WordEncoder
from ..iobes import PREFIXES, TagSet
from ..label_maps import (
    LabelMap, check_label_map, source_label_map, tied_tags, unannotated_labels,
)
from .norm import normalize_output
from .packing import Packing
from .schemes import COMPONENTS, parse_sharing
from .sharing import Gates


@dataclass
class NetworkConfig:
    """Sizes and rates; defaults are the paper's ("Model Settings").

    The one place the paper's values are written: ``spacy_dtn.DTNTagger.v1`` and ``v2`` take
    their defaults from here. The paper does not state λ; 0.001 keeps the soft-sharing
    penalty near the size of the cross-entropy at initialisation for LSTMs of these sizes.
    """

    word_width: int = 100
    sharing: str = "dtn"
    char_embed: int = 25
    char_hidden: int = 50
    word_hidden: int = 100
    decoder_hidden: int = 50
    tag_embed: int = 50
    dropout: float = 0.5
    share_lambda: float = 0.001
    n_char_buckets: int = 2048
    # Not in the paper; the defaults here keep a 0.1.0 pipeline computing what it did.
    normalize: bool = False
    # Label-mapped output sharing (Yang et al. 2017, T-A): None, "name" (a source label and a
    # target label of the same name are one), {source label: target label} for every source
    # or {source task: {source label: target label}}.
    label_map: LabelMap = None
    # Not in the paper: what a token outside a tied source's entities says about the target's
    # labels. "O": that it is none of them (the tied ``O`` row learns NCBI-disease's
    # chemicals as ``O``); "unknown": nothing about the labels the source does not annotate,
    # so the loss at such a token is -log P(O or any tag of those labels) (partial
    # annotation, Huang et al. 2019); "any": nothing about any target label, tied ones
    # included (a source whose guidelines mark fewer chemicals teaches where its chemicals
    # are, never that a token is not one). The ``lstm`` decoder only.
    unannotated: str = "O"
    # Not in the paper: the initial bias of every component's gate g2 (``dtn`` only), which
    # mixes the target's independent path (1 - g2) with the shared one (g2). 0: the paper's
    # even start; negative: the target starts on its own path, as without transfer, and
    # opens the shared one as far as the target's loss asks (a useless source stays out).
    shared_gate_bias: float = 0.0
    # Not in the paper: "lstm" (the paper's tag-fed LSTM decoder, greedy) or "crf" (the
    # decoder LSTM sees h only, under a linear-chain CRF per task; Viterbi).
    decoder: str = "lstm"

    def to_dict(self) -> dict:
        return asdict(self)


UNANNOTATED = ("O", "unknown", "any")


def _partial_cross_entropy(
    logits: torch.Tensor, gold: torch.Tensor, outside: torch.Tensor
) -> torch.Tensor:
    """Summed ``-log P(gold)`` where a gold ``O`` (id 0) stands for a set of tags.

    ``logits`` (N, n_own + k): the source's own tags, then the k target tags it does not
    annotate. ``outside`` (n_own + k,) marks the tags an ``O`` token may be (``O`` itself
    and, by ``unannotated``, the hidden target tags or also the tied ones): its probability
    is theirs together; any other known token's is its tag's; -1 (unknown) adds nothing.
    """
    log_z = logits.logsumexp(dim=-1)
    outside_score = logits.masked_fill(~outside, float("-inf")).logsumexp(dim=-1)
    tag_score = logits.gather(1, gold.clamp(min=0).unsqueeze(1)).squeeze(1)
    score = torch.where(gold == 0, outside_score, tag_score)
    return (log_z - score)[gold >= 0].sum()


class DTNNetwork(nn.Module):
    """Hierarchical BiLSTM tagger for one target task and any number of named source tasks.

    ``labels`` maps each task name to its entity labels (each task has its own tag set).
    With ``sharing="baseline"`` only the target task gets parameters.
    """

    def __init__(self, config: NetworkConfig, target: str, labels: Dict[str, Sequence[str]]):
        super().__init__()
        if target not in labels:
            raise ValueError(f"No labels for the target task {target!r}")
        self.config = config
        self.target = target
        schemes, with_sources = parse_sharing(config.sharing)
        self.schemes = dict(zip(COMPONENTS, schemes))
        self.sources: List[str] = [t for t in labels if t != target] if with_sources else []
        self.tagsets = {task: TagSet(labels[task]) for task in [target] + self.sources}
        if config.unannotated not in UNANNOTATED:
            raise ValueError(
                f"unannotated must be one of {UNANNOTATED}, got {config.unannotated!r}"
            )
        if config.unannotated != "O" and config.decoder != "lstm":
            raise ValueError(
                f"unannotated = {config.unannotated!r} needs decoder = 'lstm' (the crf decoder "
                "has no partial-annotation loss)"
            )
        if self.sources:
            check_label_map(config.label_map, {t: labels[t] for t in self.tasks}, target)
        label_maps = {s: source_label_map(config.label_map, s) for s in self.sources}
        for task, tagset in self.tagsets.items():
            # Derived from the labels: moved with the module, never saved.
            allowed, end_ok = crf.tag_masks(tagset)
            self.register_buffer(f"allowed_{task}", allowed, persistent=False)
            self.register_buffer(f"end_ok_{task}", end_ok, persistent=False)
        self.char = CharEncoder(
            schemes[0], target=target, sources=self.sources, n_buckets=config.n_char_buckets,
            char_embed=config.char_embed, char_hidden=config.char_hidden,
        )
        self.word = WordEncoder(
            schemes[1], target=target, sources=self.sources,
            in_width=self.char.width + config.word_width, word_hidden=config.word_hidden,
        )
        self.decoder = Decoder(
            schemes[2], target=target, sources=self.sources,
            tag_counts={t: len(s) for t, s in self.tagsets.items()}, in_width=self.word.width,
            tag_embed=config.tag_embed, hidden=config.decoder_hidden,
            tied_tags={
                source: tied_tags(self.tagsets[source], self.tagsets[target], label_maps[source])
                for source in self.sources if label_maps[source]
            },
            normalize=config.normalize,
            kind=config.decoder,
        )
        self.dropout = nn.Dropout(config.dropout)
        for component in (self.char, self.word, self.decoder):
            if hasattr(component.shared, "gate2"):
                nn.init.constant_(component.shared.gate2.bias, config.shared_gate_bias)
        # Per tied source, the target tags it may hide behind its O (see ``unannotated``).
        self.partial: List[str] = []
        if config.unannotated != "O":
            for source in self.sources:
                self._add_partial(source, labels[source], labels[target], label_maps[source])

    def _add_partial(
        self, source: str, source_labels: Sequence[str], target_labels: Sequence[str],
        label_map: LabelMap,
    ) -> None:
        """Register what a tied source's ``O`` may stand for (``unannotated`` "unknown"/"any").

        ``unannotated_<source>``: the target tags the source does not annotate, scored after
        its own; ``outside_<source>``: which of its own tags and those an ``O`` token may be.
        """
        if not label_map:
            return
        ties = tied_tags(self.tagsets[source], self.tagsets[self.target], label_map)
        hidden = unannotated_labels(source_labels, target_labels, label_map)
        index = self.tagsets[self.target].index
        ids = [index[f"{p}-{label}"] for label in hidden for p in PREFIXES]
        tied_entity = [tie >= 0 and self.config.unannotated == "any" for tie in ties[1:-1]]
        outside = [True] + tied_entity + [True] * len(ids)
        if not any(outside[1:]):
            return
        self.register_buffer(
            f"unannotated_{source}", torch.tensor(ids, dtype=torch.long), persistent=False
        )
        self.register_buffer(f"outside_{source}", torch.tensor(outside), persistent=False)
        self.partial.append(source)

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_output(x, self.config.normalize)

    def train(self, mode: bool = True) -> "DTNNetwork":
        """``nn.Module.train``, with the flag written straight into each module.

        Thinc's PyTorchShim calls ``eval()`` before and ``train()`` after every prediction.
        ``nn.Module.train`` recurses through the network's ~70 modules and sets each flag
        through ``nn.Module.__setattr__``; at one sentence per batch that was a noticeable
        share of inference. No module here overrides ``train``, so setting the flags is all
        it does. The module list is kept until :meth:`drop_sources` changes it.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        modules = self.__dict__.get("_module_list")
        if modules is None:
            modules = self.__dict__["_module_list"] = list(self.modules())
        for module in modules:
            module.__dict__["training"] = mode
        return self

    @property
    def tasks(self) -> List[str]:
        return [self.target] + self.sources

    def forward(
        self,
        words: torch.Tensor,
        char_ids: torch.Tensor,
        char_lengths: torch.Tensor,
        token_index: torch.Tensor,
        lengths: torch.Tensor,
        task: str,
        gold: Optional[torch.Tensor] = None,
        return_gates: bool = False,
    ):
        """Run one batch of one task; tokens are *flat* (sentences concatenated, no padding).

        words: (N, word_width) word embeddings. lengths: (B,) CPU sentence lengths, all > 0.
        char_ids: (U, L) character ids of the batch's distinct words (0 = padding), with
        char_lengths (U,) on the CPU. token_index: (N,) index of each token's word.
        gold: (N,) gold tag ids, -1 where unknown. Given: returns the loss, averaged over the
        known tokens (token cross-entropy of the teacher-forced ``lstm`` decoder, or the
        ``crf``'s negative log-likelihood), and the weighted soft-sharing penalty (a scalar,
        or None). Not given: returns IOBES-valid tags (N,) (greedy for ``lstm``, Viterbi for
        ``crf``) and, if ``return_gates``, the gate values per token ({"char_g1": (N,), ...}).
        """
        h, packing, char_gates, word_gates = self.encode(
            words, char_ids, char_lengths, token_index, lengths, task
        )
        allowed, end_ok = getattr(self, f"allowed_{task}"), getattr(self, f"end_ok_{task}")
        if gold is not None:
            n_known = (gold >= 0).sum().clamp(min=1)
            if self.config.decoder == "crf":
                emissions, _ = self._emissions(task, h, packing)
                crf_scores = self.decoder.crf_scores(task, allowed, end_ok)
                loss = crf.negative_log_likelihood(
                    emissions, gold[packing.gather], packing.steps, *crf_scores
                )
            else:
                logits = self.teacher_forced_logits(task, h, packing, gold)
                if task in self.partial:
                    outside = getattr(self, f"outside_{task}")
                    loss = _partial_cross_entropy(logits, gold, outside)
                else:
                    loss = F.cross_entropy(logits, gold, ignore_index=-1, reduction="sum")
            return loss / n_known, self.share_penalty()
        if self.config.decoder == "crf":
            emissions, decoder_gates = self._emissions(task, h, packing)
            crf_scores = self.decoder.crf_scores(task, allowed, end_ok)
            tags = crf.viterbi(emissions, packing.steps, *crf_scores)
        else:
            tags, decoder_gates = self.decoder.greedy(task, h, packing, allowed, end_ok)
        gates = {}
        if return_gates:
            gates.update({f"char_{n}": v[token_index] for n, v in char_gates.items()})
            gates.update({f"word_{n}": v[packing.scatter] for n, v in word_gates.items()})
            gates.update({f"decoder_{n}": v[packing.scatter] for n, v in decoder_gates.items()})
        return tags[packing.scatter], gates

    def encode(
        self,
        words: torch.Tensor,
        char_ids: torch.Tensor,
        char_lengths: torch.Tensor,
        token_index: torch.Tensor,
        lengths: torch.Tensor,
        task: str,
    ) -> Tuple[torch.Tensor, Packing, Gates, Gates]:
        """The word encoder's output ``h`` (N, width) in packed order, the batch's packing
        and the character and word encoders' gates (arguments as :meth:`forward`'s)."""
        if task not in self.tagsets:
            raise KeyError(f"Unknown task {task!r}; this network knows {self.tasks}")
        packing = Packing.from_lengths(lengths, words.device)
        h_c, char_gates = self.char(task, char_ids, char_lengths)
        m = torch.cat([self.dropout(self.norm(h_c))[token_index], self.dropout(words)], dim=-1)
        h, word_gates = self.word(task, m[packing.gather], packing)
        return self.dropout(self.norm(h)), packing, char_gates, word_gates

    def teacher_forced_logits(
        self, task: str, h: torch.Tensor, packing: Packing, gold: torch.Tensor
    ) -> torch.Tensor:
        """The ``lstm`` decoder's scores (N, n_tags), flat, given the gold previous tags.

        For a source with partial annotation (:attr:`partial`) the target's scores of the
        tags it does not annotate follow its own: (N, n_tags + n_hidden_tags).
        """
        prev = torch.cat([gold.new_zeros(1), gold[:-1].clamp(min=0)])
        prev[packing.starts] = self.tagsets[task].start
        o, _ = self.decoder.teacher_forced(task, h, prev[packing.gather], packing)
        o = self.dropout(self.norm(o))
        logits = self.decoder.logits(task, o)
        if task in self.partial:
            hidden = getattr(self, f"unannotated_{task}")
            logits = torch.cat([logits, self.decoder.logits(self.target, o)[:, hidden]], dim=-1)
        return logits[packing.scatter]

    def _emissions(self, task: str, h: torch.Tensor, packing: Packing):
        """The ``crf`` decoder's per-token tag scores (N, n_tags), packed, and its gates."""
        o, gates = self.decoder.states(task, h, packing)
        return self.decoder.logits(task, self.dropout(self.norm(o))), gates

    def share_penalty(self) -> Optional[torch.Tensor]:
        """``λ · Σ_components ‖θ_target − θ_source‖²`` over soft-shared modules, or None."""
        total = None
        for component in (self.char, self.word, self.decoder):
            term = component.shared.share_penalty()
            if term is not None:
                total = term if total is None else total + term
        return None if total is None else self.config.share_lambda * total

    def drop_sources(self) -> None:
        """Remove every source-only parameter; target predictions are unchanged."""
        for task in self.sources:
            delattr(self, f"allowed_{task}")
            delattr(self, f"end_ok_{task}")
            if task in self.partial:
                delattr(self, f"unannotated_{task}")
                delattr(self, f"outside_{task}")
            del self.tagsets[task]
        self.partial = []
        self.char.shared.drop_sources()
        self.word.shared.drop_sources()
        self.decoder.drop_sources()
        self.sources = []
        self.__dict__.pop("_module_list", None)
