"""The benchmark's data: sentences of an IOB table or a DocBin, as Docs and Examples of each
system's own vocab, and the progress line on stderr."""
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.vocab import Vocab

from ...tasks import set_task


_DATA = Path("../shared/data")  # the shared corpora, beside the project (run from its root)
DEFAULT_DATA = _DATA / "bc5cdr" / "test.tsv"
DEFAULT_SOURCE = _DATA / "ncbi-disease" / "train.tsv"
DTN, NER = "dtn_ner", "ner"
#: A vocab-free sentence: words, trailing spaces, IOB tags (so each system gets its own Docs).
Sentence = Tuple[List[str], List[bool], List[str]]


def progress(text: str) -> None:
    """Progress goes to stderr, so that stdout holds only the tables."""
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def read_sentences(path: Path, n_docs: int = 0) -> List[Sentence]:
    """Words, spaces and IOB tags of the first ``n_docs`` docs (0: all) of an IOB table or a
    DocBin."""
    vocab = Vocab()
    if path.suffix == ".spacy":
        docs: Iterator[Doc] = DocBin().from_disk(path).get_docs(vocab)
    else:
        from ...convert.iob import convert_iob

        docs, _ = convert_iob(path, vocab=vocab)
    out = []
    for doc in islice(docs, n_docs or None):
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else "O" for t in doc]
        out.append(([t.text for t in doc], [bool(t.whitespace_) for t in doc], tags))
    if not out:
        raise ValueError(f"no docs in {path}")
    return out


def make_docs(nlp: Language, sentences: Sequence[Sentence]) -> List[Doc]:
    """Fresh, unannotated Docs in this pipeline's vocab (the input of one timed pass)."""
    return [Doc(nlp.vocab, words=w, spaces=s) for w, s, _ in sentences]


def make_examples(nlp: Language, sentences: Sequence[Sentence], task: Optional[str] = None):
    """Training examples in this pipeline's vocab; the gold doc marked with ``task`` if given."""
    examples = []
    for words, spaces, tags in sentences:
        gold = Doc(nlp.vocab, words=words, spaces=spaces, ents=tags)
        if task is not None:
            set_task(gold, task)
        examples.append(Example(Doc(nlp.vocab, words=words, spaces=spaces), gold))
    return examples
