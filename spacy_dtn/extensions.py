"""The ``Doc`` extensions ``dtn_ner`` writes: their names, and their registration.

The component registers them when it is imported; the tools (``annotate``, ``gates``,
``visualize``) read them, from pipelines with or without ``dtn_ner``, so they register them
too, from here, rather than import the component and its network for a name. Importing this
module imports nothing (spaCy only once :func:`register_extensions` runs).
"""

#: ``doc._.dtn_gates``: the per-token gate values, ``{"char_g1": [...], ...}`` (``store_gates``).
GATES_EXTENSION = "dtn_gates"


def register_extensions() -> None:
    """Register ``doc._.dtn_gates`` (default None) on spaCy's ``Doc``, once."""
    from spacy.tokens import Doc

    if not Doc.has_extension(GATES_EXTENSION):
        Doc.set_extension(GATES_EXTENSION, default=None)
