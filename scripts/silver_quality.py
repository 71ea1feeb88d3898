"""How good is a teacher's silver? Its entities on an archive scored against the archive's
true labels, before and after label propagation (spacy_dtn/propagation.py).

For the measurements only: a real archive has no true labels. The archive of the tables is the
complement of a seed's subsample of a labelled train set (``subsample --complement``), so its
true labels are that train set's; the gold the propagation rules also read is the rest of it.

    python scripts/silver_quality.py training/ner_pool_ft/model-best \\
        corpus/bc5cdr/archive-0.1.spacy corpus/bc5cdr/train.spacy

prints entity precision, recall and F1 of the silver, without and with propagation.
"""
from pathlib import Path
from typing import List, Sequence, Set, Tuple

import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from spacy_dtn.propagation import EntityT, propagate
from spacy_dtn.teacher import Teacher


def entity_prf(predicted: Sequence[Sequence[EntityT]],
               true: Sequence[Sequence[EntityT]]) -> Tuple[float, float, float]:
    """Micro precision, recall and F1 of exact (start, end, label) matches, per doc."""
    tp = fp = fn = 0
    for pred, gold in zip(predicted, true):
        p: Set[EntityT] = set(pred)
        g: Set[EntityT] = set(gold)
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main(
    teacher: Path = typer.Argument(..., help="The trained pipeline that labels the archive"),
    archive: Path = typer.Argument(..., help="The archive DocBin (a subsample's complement)"),
    labelled: Path = typer.Argument(..., help="The train DocBin the archive was cut from"),
) -> None:
    nlp = spacy.blank("en")
    everything = list(DocBin().from_disk(labelled).get_docs(nlp.vocab))
    by_text = {doc.text: doc for doc in everything}
    archive_texts = [doc.text for doc in DocBin().from_disk(archive).get_docs(nlp.vocab)]
    missing = [text for text in archive_texts if text not in by_text]
    if missing:
        msg.fail(f"{len(missing)} archive texts are not in {labelled}", exits=1)
    docs = [by_text[text] for text in archive_texts]
    in_archive = set(archive_texts)
    gold = [(doc, ents(doc)) for doc in everything if doc.text not in in_archive]
    true = [ents(doc) for doc in docs]
    silver = Teacher(teacher).entities(docs)
    spread = propagate(docs, silver, known=gold)
    msg.info(f"{len(docs)} archive sentences, {len(gold)} gold; {sum(map(len, true))} true "
             f"entities")
    for name, predicted in (("teacher", silver), ("with propagation", spread)):
        p, r, f = entity_prf(predicted, true)
        print(f"{name}: {sum(map(len, predicted))} entities, P {100 * p:.2f} R {100 * r:.2f} "
              f"F1 {100 * f:.2f}")


def ents(doc) -> List[EntityT]:
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


if __name__ == "__main__":
    typer.run(main)
