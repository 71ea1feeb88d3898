"""``python -m spacy_dtn benchmark``: speed of ``dtn_ner`` next to spaCy's own ``ner``.

(First version: inference words per second only; more measurements follow.)
"""
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional

import spacy
import srsly
import typer
from spacy.tokens import Doc, DocBin
from wasabi import msg

DEFAULT_DATA = Path("../shared/data/bc5cdr/test.tsv")


def read_gold(path: Path, vocab, n_docs: int = 0) -> List[Doc]:
    """Gold docs from an IOB table or a DocBin."""
    if path.suffix == ".spacy":
        docs = list(DocBin().from_disk(path).get_docs(vocab))
    else:
        from .convert.iob import convert_iob

        gen, _ = convert_iob(path, vocab=vocab)
        docs = list(gen)
    return docs[:n_docs] if n_docs else docs


def init_efficiency_ner(examples):
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency")
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.initialize(lambda: examples)
    return nlp


def benchmark_cli(
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="IOB table or DocBin"),
    n_docs: int = typer.Option(0, "--n-docs", help="Use the first N docs (0: all)"),
    batch_size: int = typer.Option(1000, "--batch-size"),
    repeats: int = typer.Option(5, "--repeats"),
    output: Optional[Path] = typer.Option(None, "--output", "-o"),
):
    """Words per second of dtn_ner and spaCy's ner on the same pre-tokenised docs."""
    from spacy.training import Example

    systems = {}
    nlp = spacy.blank("en")
    gold = read_gold(data, nlp.vocab, n_docs)
    examples = [Example(Doc(nlp.vocab, words=[t.text for t in d]), d) for d in gold]
    nlp.add_pipe("dtn_ner")
    nlp.initialize(lambda: examples)
    systems["dtn_ner"] = nlp
    systems["ner"] = init_efficiency_ner(examples)
    n_words = sum(len(d) for d in gold)
    results = {name: [] for name in systems}
    for r in range(repeats):
        for name, nlp in systems.items():
            docs = [Doc(nlp.vocab, words=[t.text for t in d]) for d in gold]
            start = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=batch_size):
                pass
            results[name].append(n_words / (time.perf_counter() - start))
    table = [(name, f"{statistics.median(v):,.0f}") for name, v in results.items()]
    msg.table(table, header=("system", "wps median"))
    if output:
        srsly.write_json(output, results)
