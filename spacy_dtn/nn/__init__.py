"""Pure PyTorch: the hierarchical BiLSTM tagger and its sharing schemes (no spaCy import here)."""
from .iobes import TagSet
from .network import DTNNetwork, NetworkConfig
from .schemes import SHARING_CHOICES, parse_sharing

__all__ = ["DTNNetwork", "NetworkConfig", "TagSet", "parse_sharing", "SHARING_CHOICES"]
