"""The whole tagger: character encoder → word encoder → decoder, one scheme per component."""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .decoder import Decoder
from .encoders import CharEncoder, WordEncoder
from .iobes import TagSet
from .schemes import COMPONENTS, parse_sharing


@dataclass
class NetworkConfig:
    """Sizes and rates; defaults are the paper's ("Model Settings").

    The paper does not state λ; 0.001 keeps the soft-sharing penalty near the size of the
    cross-entropy at initialisation for LSTMs of these sizes.
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

    def to_dict(self) -> dict:
        return asdict(self)


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
        for task, tagset in self.tagsets.items():
            # Derived from the labels: moved with the module, never saved.
            self.register_buffer(f"allowed_{task}", tagset.transition_mask(), persistent=False)
            self.register_buffer(f"end_ok_{task}", tagset.end_mask(), persistent=False)
        self.char = CharEncoder(
            schemes[0], target, self.sources, config.n_char_buckets, config.char_embed,
            config.char_hidden,
        )
        self.word = WordEncoder(
            schemes[1], target, self.sources, self.char.width + config.word_width,
            config.word_hidden,
        )
        self.decoder = Decoder(
            schemes[2], target, self.sources, {t: len(s) for t, s in self.tagsets.items()},
            self.word.width, config.tag_embed, config.decoder_hidden,
        )
        self.dropout = nn.Dropout(config.dropout)

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
        """Run one batch of one task.

        words: (B, T, word_width) word embeddings, right-padded.
        char_ids: (U, L) character ids of the batch's distinct words (0 = padding).
        char_lengths: (U,) CPU lengths of those words. lengths: (B,) CPU sentence lengths.
        token_index: (B, T) index of each token's word in ``char_ids``; padding points at U.
        gold: (B, T) gold tag ids, -1 where unknown or padding. Given: returns the logits
        under teacher forcing (B, T, n_tags) and the weighted soft-sharing penalty (a scalar
        or None). Not given: returns greedy IOBES-valid tags (B, T) and, if
        ``return_gates``, the gate values per token ({"char_g1": (B, T), ...}).
        """
        if task not in self.tagsets:
            raise KeyError(f"Unknown task {task!r}; this network knows {self.tasks}")
        h_c, char_gates = self.char(task, char_ids, char_lengths)
        h_c = torch.cat([self.dropout(h_c), h_c.new_zeros(1, h_c.shape[1])])
        m = torch.cat([h_c[token_index], self.dropout(words)], dim=-1)
        h, word_gates = self.word(task, m, lengths)
        h = self.dropout(h)
        if gold is not None:
            start = self.tagsets[task].start
            prev = torch.cat([torch.full_like(gold[:, :1], start), gold[:, :-1].clamp(min=0)], 1)
            o, _ = self.decoder.teacher_forced(task, h, prev)
            logits = self.decoder.output[task](self.dropout(o))
            return logits, self.share_penalty()
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order].tolist()
        active = [sum(1 for n in sorted_lengths if n > t) for t in range(h.shape[1])]
        order_dev = order.to(h.device)
        tags_sorted, decoder_gates = self.decoder.greedy(
            task, h[order_dev], active,
            getattr(self, f"allowed_{task}"), getattr(self, f"end_ok_{task}"),
        )
        inverse = torch.argsort(order_dev)
        tags = tags_sorted[inverse]
        if not return_gates:
            return tags, {}
        gates = {}
        for name, value in char_gates.items():
            gates[f"char_{name}"] = torch.cat([value, value.new_zeros(1)])[token_index]
        for name, value in word_gates.items():
            gates[f"word_{name}"] = value
        for name, value in decoder_gates.items():
            gates[f"decoder_{name}"] = value[inverse]
        return tags, gates

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
            del self.tagsets[task]
        self.char.shared.drop_sources()
        self.word.shared.drop_sources()
        self.decoder.drop_sources()
        self.sources = []
