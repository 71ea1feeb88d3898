"""Thinc glue: layers that put the DTN's sharing on spaCy's own models."""
