"""Pure PyTorch: the hierarchical BiLSTM tagger and its sharing schemes (no spaCy import here)."""
from .decoder import DECODERS
from .iobes import TagSet
from .network import DTNNetwork, NetworkConfig
from .schemes import SHARING_CHOICES, parse_sharing

__all__ = ["DECODERS", "DTNNetwork", "NetworkConfig", "TagSet", "parse_sharing", "SHARING_CHOICES"]
