"""``python -m spacy_dtn benchmark``: how fast ``dtn_ner`` runs next to spaCy's own ``ner``.

A component that people add to a production pipeline is judged by words per second beside
spaCy's built-in ``ner``. Timings on a shared machine are noisy, so every number here
comes from the two systems run in the same process over the same Docs, alternating (ABBA order)
over several repeats, and the median, min and max are kept, never a single run.

What is measured, per device (CPU, and GPU with ``--gpu-id``):

* inference words per second over pre-tokenised Docs built from the gold words (tokenisation
  is not measured), through ``nlp.pipe(batch_size=...)``; the ratio is dtn_ner / ner of the
  medians;
* peak memory of one inference pass, each system in a fresh child process: the growth of the
  maximum resident set size (``resource.getrusage``; covers torch, numpy and Python) and, in a
  second pass, the Python-level peak that ``tracemalloc`` sees (numpy buffers and Python objects,
  not torch's CPU allocator). On GPU: ``torch.cuda.max_memory_allocated`` with Thinc's cupy
  allocations routed through PyTorch's allocator;
* thread scaling (``torch.set_num_threads`` and ``threadpoolctl`` for BLAS/OpenMP pools) and
  batch size scaling (batch 1 ... 1,000) of inference;
* training sentences per second: a fixed number of ``nlp.update`` steps on consecutive real
  batches of the data (one task per batch: the target);
* parameter counts of ``dtn_ner`` before and after ``drop_source_task()``.

Without ``--model`` both systems are initialised, not trained: ``dtn_ner`` with its default
config (``sharing=dtn``, the paper's sizes) on the data's labels plus a source task (NCBI-disease
labels, so that it has source parameters), and ``ner`` from the efficiency config of
``spacy init config -p ner``. Their speed does not depend on the weights: the DTN decodes every
token step by step whatever it predicts, and the transition-based ``ner`` takes exactly one
action per token.
"""
from .data import DEFAULT_DATA, DEFAULT_SOURCE, DTN, NER
from .report import print_report, to_markdown
from .run import BenchmarkError, benchmark

__all__ = ["DEFAULT_DATA", "DEFAULT_SOURCE", "DTN", "NER", "BenchmarkError", "benchmark",
           "print_report", "to_markdown"]
