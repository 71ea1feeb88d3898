"""The optional normalisation of each component's output (the ``normalize`` setting)."""
import torch
from torch.nn import functional as F


def normalize_output(x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """``x`` scaled to zero mean and unit variance over its last axis, or ``x`` itself.

    Without parameters, so it needs no sharing scheme. Freshly initialised LSTMs give outputs
    far below unit scale, and three of them stacked start training on a long plateau where
    every token is tagged O (with spaCy's default optimizer: train F1 0.00 after 100 updates on
    120 sentences). Normalising keeps each component's signal at the scale the next one
    expects, as the LayerNorm inside spaCy's Maxout layers does.
    """
    return F.layer_norm(x, x.shape[-1:]) if enabled else x
