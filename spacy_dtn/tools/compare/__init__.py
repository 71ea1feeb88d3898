"""``python -m spacy_dtn compare``: DTN against spaCy's own ``ner``, over seeds, at convergence.

The one question a user asks before switching is whether ``dtn_ner`` with transfer beats what
they already have: spaCy's ``ner`` trained on the same target sentences. One seed answers
nothing (over three 10 % subsamples of BC5CDR the sd of test F1 is 1.3 to 2.2), so every
system is trained for each seed, and the seed drives both the target subsample and the
training. Each run is spaCy's own ``spacy train`` (early stopping on the full target dev set)
in its own process, so that ``--jobs 2`` uses two cores with one PyTorch thread each, and
each score is ``python -m spacy_dtn evaluate`` on the target test set.

Systems over a transformer (``dtn_trf``, ``baseline_trf``, ``ner_trf``: configs with a
``[paths] transformer``) get ``--transformer`` as ``--paths.transformer``: a Hugging Face model
name or a local model folder (``scripts/transformer_path.py`` finds all-MiniLM-L6-v2). For a
local folder its ``config.json`` ``hidden_size`` also goes to configs with a
``[vars] transformer_width`` (the width the DTN sizes its word encoder for). The environment
reaches every run as it is: ``HF_HUB_OFFLINE=1`` keeps the Hugging Face libraries off the
network, and then a transformer that is not a local folder is an error before anything is
trained.

Layout of ``--output-dir``::

    runs/seed-<s>/<system>/model-best, train.log, test_scores.json, done.json
    runs/seed-<s>/archive.spacy   with --archive-complement: the seed's unlabeled archive
    compare.json    setting, seeds, per system: F1 per seed, mean, sd, P/R, per-type F1
    compare.md      the same as a markdown table, with the protocol and command
    compare.png     test F1 per system and seed; curves.png: dev F1 by step (tools.charts)

Self-training systems (``ner_self``, ``ner_self2``, ``ner_self_ft``: configs with a ``[paths]
unlabeled``) read ``--unlabeled`` or, with ``--archive-complement``, their seed's own archive:
the ``--target`` train docs outside that seed's ``--fraction``, labels dropped
(:func:`spacy_dtn.archive.write_complement`), so no labelled, dev or test sentence is in it;
their reader also gets the dev and test files as ``held_out`` and drops any archive text
equal to one of their sentences. Their teacher is another system's model-best of the same
seed (``ner_self`` by ``ner``, ``ner_self2`` by ``ner_self``, ``ner_pool_self`` by
``ner_pool_ft``, ``ner_pool_prop`` by ``ner_pool_ft``, ``ner_pool_prop2`` by
``ner_pool_prop``, ``dtn_self`` by ``dtn``; ``--taught-by NAME=TEACHER`` for others).

A run with ``done.json`` is not trained again: stop and rerun the same command to resume, or
add seeds and systems later. Nothing machine-specific (absolute paths, host names) is written
to ``compare.json``: paths are kept as given, relative to the working directory.
"""
from .commands import (evaluate_command, execute_run, parse_label_map, parse_taught_by,
                       run_subprocess, train_command)
from .run import (aggregate, check_transformer, default_results_name, keep_earlier_rows,
                  run_compare)
from .stats import format_markdown, mean_sd, summarize
from .systems import (DEFAULT_SYSTEMS, KNOWN_SYSTEMS, CompareError, Run, parse_seeds,
                      parse_systems, pretrained_by, reads_transformer)

__all__ = [
    "DEFAULT_SYSTEMS", "KNOWN_SYSTEMS", "CompareError", "Run", "aggregate", "check_transformer",
    "default_results_name", "evaluate_command", "execute_run", "format_markdown",
    "keep_earlier_rows", "mean_sd", "parse_label_map", "parse_seeds", "parse_systems",
    "parse_taught_by",
    "pretrained_by", "reads_transformer", "run_compare", "run_subprocess", "summarize",
    "train_command",
]
