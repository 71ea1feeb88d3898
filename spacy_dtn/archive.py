"""The unlabeled archive as an input: written as a subsample's complement, read as texts.

A team has a few annotated sentences and an archive nobody annotated. Self-training
(:mod:`spacy_dtn.self_training`) reads that archive; for the measurements the archive is the
target's own train sentences outside the seed's labelled fraction, labels dropped. Here:

* :func:`write_complement`: the docs of a DocBin that :func:`spacy_dtn.subsample.subsample_indices`
  does *not* keep for a seed and fraction, written with every token's entity annotation
  missing (not ``O``: nobody said these tokens are outside an entity). With the subsample
  itself it partitions the corpus: no doc in both, none in neither.
* :func:`read_unlabeled`: the docs of an unlabeled corpus, a DocBin (``.spacy``, entities
  ignored) or the notes that ``python -m spacy_dtn annotate`` reads (JSONL of ``{"id",
  "text"}``, Parquet, a folder of ``.txt``), through annotate's own readers: a record that is
  not valid UTF-8, not JSON or has no text is counted by reason and left out, as annotate
  does, never a crash of the training.
* :func:`text_key`: what makes two sentences the same text whatever their tokenisation: the
  characters of their tokens, whitespace aside. The self-training reader drops the archive's
  sentences whose key is a gold or held-out sentence's.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .subsample import subsample_indices

#: How many bad records an unlabeled corpus's report names before it only counts them.
MAX_NAMED_BAD = 3


class ArchiveError(ValueError):
    """An unlabeled corpus that can't be used: one line, naming the file."""


def read_docs(path: Path, vocab: Vocab) -> List[Doc]:
    """Every doc of one ``.spacy`` file or of the ``.spacy`` files under a folder, in order."""
    files = sorted(path.rglob("*.spacy")) if path.is_dir() else [path]
    docs: List[Doc] = []
    for file in files:
        try:
            docs.extend(DocBin().from_disk(file).get_docs(vocab))
        except Exception as err:  # srsly/msgpack/zlib raise many types on a non-DocBin
            raise ArchiveError(f"{file}: not a readable DocBin ({type(err).__name__})") from None
    return docs


def without_labels(doc: Doc) -> Doc:
    """The doc with every token's entity annotation missing (and no span groups)."""
    doc.set_ents([], default="missing")
    doc.spans.clear()
    return doc


def complement_docs(docs: List[Doc], fraction: float, seed: int) -> List[Doc]:
    """The docs that ``subsample(docs, fraction, seed)`` leaves out, in corpus order."""
    kept = set(subsample_indices(len(docs), fraction, seed))
    return [doc for i, doc in enumerate(docs) if i not in kept]


def write_complement(
    input_path: Union[str, Path], output_path: Union[str, Path], fraction: float, seed: int
) -> Tuple[int, int]:
    """Write the docs of ``input_path`` *not* kept by the seeded subsample, labels dropped.

    The selection is the one of ``python -m spacy_dtn subsample`` and of
    ``spacy_dtn.TransferCorpus.v1``'s ``target_fraction`` on the same file. RETURNS: the
    number of docs written and the number read.
    """
    input_path = Path(input_path)
    if not input_path.exists():
        raise ArchiveError(f"{input_path}: no such file")
    docs = read_docs(input_path, Vocab())
    archive = [without_labels(doc) for doc in complement_docs(docs, fraction, seed)]
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=archive, store_user_data=True).to_disk(output_path)
    return len(archive), len(docs)


def text_key(doc: Doc) -> str:
    """A sentence's text whatever its tokenisation: its tokens' characters, whitespace aside."""
    return "".join(doc.text.split())


@dataclass
class UnlabeledTexts:
    """The docs of an unlabeled corpus and the records left out of it, by reason."""

    path: Path
    docs: List[Doc]
    #: Records that could not be read (bad UTF-8, not JSON, no text, ...), by reason.
    bad: Counter = field(default_factory=Counter)
    #: The first :data:`MAX_NAMED_BAD` bad records, ``"file:line: reason"``.
    named_bad: List[str] = field(default_factory=list)
    #: Records of empty (whitespace) text, left out: there is nothing to label.
    n_empty: int = 0

    @property
    def n_bad(self) -> int:
        return sum(self.bad.values())

    def bad_report(self) -> str:
        """One line: how many records were left out and why, the first ones named."""
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.bad.most_common())
        return (f"{self.path}: left out {self.n_bad} unreadable records ({reasons}); first: "
                + "; ".join(self.named_bad))


def _is_docbin(path: Path) -> bool:
    if path.is_dir():
        return next(path.rglob("*.spacy"), None) is not None
    return path.suffix == ".spacy"


def read_unlabeled(
    path: Union[str, Path],
    make_doc: Callable[[str], Doc],
    vocab: Vocab,
    id_field: str = "id",
    text_field: str = "text",
) -> UnlabeledTexts:
    """The docs of an unlabeled corpus: a DocBin's docs (labels dropped), or annotate's notes.

    path: a ``.spacy`` file or a folder of them; else anything ``annotate`` reads (JSONL,
        Parquet, a folder of ``.txt``), each note's text tokenised by ``make_doc``.
    An archive with no text at all is an error (:class:`ArchiveError`); bad records are
    counted in the result, as ``annotate`` counts them.
    """
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"unlabeled corpus {path}: no such file or folder")
    if _is_docbin(path):
        docs = [without_labels(doc) for doc in read_docs(path, vocab)]
        result = UnlabeledTexts(path, [doc for doc in docs if text_key(doc)])
        result.n_empty = len(docs) - len(result.docs)
    else:
        result = _read_notes(path, make_doc, id_field, text_field)
    if not result.docs:
        why = f" ({result.n_bad} unreadable records)" if result.n_bad else ""
        raise ArchiveError(f"unlabeled corpus {path} holds no text to label{why}")
    return result


def _read_notes(path: Path, make_doc: Callable[[str], Doc], id_field: str,
                text_field: str) -> UnlabeledTexts:
    """The notes of annotate's input formats, through annotate's readers.

    They live with the ``annotate`` tool; imported here, when a training reads notes, so
    that loading the plugin core still loads no tool.
    """
    from .tools.annotate.readers import plan_read_tasks, read_task
    from .tools.annotate.records import AnnotateError, BadRecord

    result = UnlabeledTexts(path, [])
    try:
        tasks = plan_read_tasks(path, id_field=id_field, text_field=text_field)
        for task in tasks:
            for record in read_task(task):
                if isinstance(record, BadRecord):
                    # grouped as annotate's summary groups them, without byte or column
                    result.bad[record.reason.split(" (")[0].split(" at ")[0]] += 1
                    if len(result.named_bad) < MAX_NAMED_BAD:
                        result.named_bad.append(f"{record.where}: {record.reason}")
                elif record.text.strip():
                    result.docs.append(make_doc(record.text))
                else:
                    result.n_empty += 1
    except AnnotateError as err:
        raise ArchiveError(f"unlabeled corpus: {err}") from None
    return result

