"""Pure PyTorch: the hierarchical BiLSTM tagger and its sharing schemes (no spaCy import here)."""
from ..iobes import TagSet
from .decoder import DECODERS
from .network import DTNNetwork, NetworkConfig
from .schemes import SHARING_CHOICES, parse_sharing

__all__ = ["DECODERS", "DTNNetwork", "NetworkConfig", "TagSet", "parse_sharing", "SHARING_CHOICES"]
