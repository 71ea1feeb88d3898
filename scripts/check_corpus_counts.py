#!/usr/bin/env python
"""Convert every corpus in ../shared/data and check the counts against its README.

    python scripts/check_corpus_counts.py [--data ../shared/data] [--ontonotes PATH]
                                          [--skip-ontonotes] [--json results.json]

Covers the biomedical IOB tables (sentences, tokens, entities per type), CoNLL-2003
(documents, sentences, tokens, entities per type) and OntoNotes 5.0 train / development /
test (files, parts, sentences, of which pt/, tokens, entities per type). ``--ontonotes`` may
be the extracted tree (faster) or the ``.tar.xz`` archive (the default, read in place).
Each OntoNotes split is timed (conversion plus DocBin serialisation, one process). Exits 1 on
any mismatch, and on anything repaired, dropped or skipped, since the corpora are clean.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from spacy.tokens import DocBin
from wasabi import msg

from spacy_dtn.convert import convert_conll2003, convert_iob, convert_ontonotes

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SPACY_DTN_DATA", REPO.parent / "shared" / "data"))
ARCHIVE = "ontonotes/conll-formatted-ontonotes-5.0-english.tar.xz"

# Expected values, copied from ../shared/data/README.md.
IOB = {
    "bc5cdr/train.tsv": (4560, 118170, {"Chemical": 5203, "Disease": 4182}),
    "bc5cdr/devel.tsv": (4581, 117453, {"Chemical": 5347, "Disease": 4246}),
    "bc5cdr/test.tsv": (4797, 124750, {"Chemical": 5385, "Disease": 4424}),
    "ncbi-disease/train.tsv": (5424, 135701, {"Disease": 5134}),
    "ncbi-disease/devel.tsv": (923, 23969, {"Disease": 787}),
    "ncbi-disease/test.tsv": (940, 24497, {"Disease": 960}),
    "bc2gm/train.tsv": (12574, 355405, {"GENE": 15197}),
    "bc2gm/devel.tsv": (2519, 71042, {"GENE": 3061}),
    "bc2gm/test.tsv": (5038, 143465, {"GENE": 6325}),
}
CONLL2003 = {
    "conll2003/eng.train": (
        946,
        14041,
        203621,
        {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600},
    ),
    "conll2003/eng.testa": (216, 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    "conll2003/eng.testb": (231, 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
}
# split: (files, parts, sentences, of which pt/, tokens, entities)
ONTONOTES = {
    "train": (10539, 11401, 115812, 21520, 2200865, 128738),
    "development": (1370, 1491, 15680, 1780, 304701, 20354),
    "test": (1200, 1326, 12217, 1869, 230118, 12586),
}
_TYPES = (
    "CARDINAL DATE EVENT FAC GPE LANGUAGE LAW LOC MONEY NORP ORDINAL ORG PERCENT PERSON "
    "PRODUCT QUANTITY TIME WORK_OF_ART"
).split()
_PER_TYPE = [
    (10901, 1720, 1005),
    (18791, 3208, 1787),
    (1009, 179, 85),
    (1158, 133, 149),
    (21938, 3649, 2546),
    (355, 35, 22),
    (459, 65, 44),
    (2160, 316, 215),
    (5217, 853, 355),
    (9341, 1277, 990),
    (2195, 335, 207),
    (24163, 3798, 2002),
    (3802, 656, 408),
    (22035, 3163, 2134),
    (992, 214, 90),
    (1240, 190, 153),
    (1703, 361, 225),
    (1279, 202, 169),
]
ONTONOTES_TYPES = {
    split: dict(zip(_TYPES, (row[i] for row in _PER_TYPE))) for i, split in enumerate(ONTONOTES)
}


class Checker:
    def __init__(self) -> None:
        self.rows = []
        self.failures = 0

    def check(self, corpus: str, what: str, expected, got) -> None:
        ok = expected == got
        self.failures += not ok
        self.rows.append((corpus, what, _fmt(expected), _fmt(got), "ok" if ok else "MISMATCH"))
        if not ok:
            msg.fail(f"{corpus}: {what}: expected {_fmt(expected)}, got {_fmt(got)}")

    def clean(self, corpus: str, summary) -> None:
        keys = ("repaired", "merged", "dropped_duplicate", "dropped_overlap", "skipped")
        self.check(
            corpus, "repaired/merged/dropped/skipped", 0, sum(getattr(summary, k) for k in keys)
        )


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(value.items()))
    return f"{value:,}" if isinstance(value, int) else str(value)


def check_iob(data: Path, checker: Checker) -> None:
    for name, (sentences, tokens, entities) in IOB.items():
        docs, summary = convert_iob(data / name)
        n = sum(1 for _ in docs)
        checker.check(name, "sentences / Docs", (sentences, sentences), (summary.sentences, n))
        checker.check(name, "tokens", tokens, summary.tokens)
        checker.check(name, "entities", entities, dict(summary.entities))
        checker.clean(name, summary)


def check_conll(data: Path, checker: Checker) -> None:
    for name, (documents, sentences, tokens, entities) in CONLL2003.items():
        docs, summary = convert_conll2003(data / name)
        sum(1 for _ in docs)
        checker.check(name, "documents", documents, summary.documents)
        checker.check(name, "sentences", sentences, summary.sentences)
        checker.check(name, "tokens", tokens, summary.tokens)
        checker.check(name, "entities", entities, dict(summary.entities))
        checker.clean(name, summary)


def check_ontonotes(source: Path, checker: Checker, progress: bool) -> dict:
    timings = {}
    for split, (files, parts, sentences, pt, tokens, entities) in ONTONOTES.items():
        start = time.perf_counter()
        docs, summary = convert_ontonotes(source, split=split, progress=progress)
        db = DocBin(store_user_data=False)
        for doc in docs:
            db.add(doc)
        size = len(db.to_bytes())
        seconds = time.perf_counter() - start
        name = f"ontonotes/{split}"
        checker.check(name, "documents (files)", files, summary.files_read)
        checker.check(name, "parts", parts, summary.documents)
        checker.check(
            name, "sentences / Docs", (sentences, sentences), (summary.sentences, summary.docs)
        )
        checker.check(
            name, "sentences in pt/", pt, summary.groups["sentences per genre"].get("pt", 0)
        )
        checker.check(name, "tokens", tokens, summary.tokens)
        checker.check(name, "entities", entities, summary.n_entities)
        checker.check(name, "entities per type", ONTONOTES_TYPES[split], dict(summary.entities))
        checker.clean(name, summary)
        timings[split] = {
            "seconds": round(seconds, 1),
            "tokens": summary.tokens,
            "tokens_per_second": round(summary.tokens / seconds),
            "docbin_bytes": size,
            "summary": summary.to_dict(),
        }
        msg.info(
            f"{name}: {summary.tokens:,} tokens in {seconds:.1f} s "
            f"({summary.tokens / seconds:,.0f} tokens/s)"
        )
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument(
        "--ontonotes",
        type=Path,
        default=None,
        help="extracted tree or archive (default: the archive in --data)",
    )
    parser.add_argument(
        "--skip-ontonotes", action="store_true", help="check the small corpora only"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="write the checks and OntoNotes timings here"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        msg.fail(f"{args.data}: data folder not found (pass --data or set SPACY_DTN_DATA)")
        return 1
    checker = Checker()
    check_iob(args.data, checker)
    check_conll(args.data, checker)
    timings = {}
    if not args.skip_ontonotes:
        source = args.ontonotes or args.data / ARCHIVE
        timings = check_ontonotes(source, checker, progress=not args.no_progress)
    msg.table(checker.rows, header=("corpus", "count", "expected", "converted", ""), divider=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"failures": checker.failures, "checks": checker.rows, "ontonotes": timings},
                indent=2,
            )
            + "\n"
        )
    if checker.failures:
        msg.fail(f"{checker.failures} of {len(checker.rows)} checks failed")
        return 1
    msg.good(f"all {len(checker.rows)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
