"""The names of the ``Doc`` extensions ``dtn_ner`` writes, importable without torch or spaCy.

The component registers them; the tools (``annotate``, ``gates``, ``visualize``) only read
them, so they take the name from here rather than import the component and its network.
"""

#: ``doc._.dtn_gates``: the per-token gate values, ``{"char_g1": [...], ...}`` (``store_gates``).
GATES_EXTENSION = "dtn_gates"
