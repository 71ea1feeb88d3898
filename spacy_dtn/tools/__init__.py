"""The experiment tools: what the commands of ``python -m spacy_dtn`` do, importable.

``annotate``, ``benchmark``, ``compare``, ``grid``, ``gates``, ``visualize`` and ``evaluate``
(with ``loading``, the saved pipeline they share) use the plugin core at the top of
:mod:`spacy_dtn`; the core never imports them (``tests/test_layout.py``), so a pipeline with
``dtn_ner`` loads without their dependencies.
"""
