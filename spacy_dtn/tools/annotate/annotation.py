"""The annotation of a stream of notes: pieces batched by characters through ``nlp.pipe``,
put back together per note, and each note's entities (with their mean gates) as records."""
import warnings
from itertools import chain
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from ...extensions import GATES_EXTENSION, register_extensions
from .. import loading
from .records import NOTE_ID_KEY, AnnotateError, Note
from .split import split_text

register_extensions()  # read from any pipeline's docs, with or without dtn_ner


def load_pipeline(model: str, gates: bool = False):
    """``spacy.load`` with one-line errors; ``gates`` turns ``store_gates`` on in every
    component that has it (so a model trained without it still gives gate summaries)."""
    nlp = loading.load_pipeline(model, AnnotateError)
    if gates:
        with_gates = [pipe for _, pipe in nlp.pipeline if hasattr(pipe, "store_gates")]
        if not with_gates:
            raise AnnotateError(f"--gates: {model} has no component that stores gates")
        for pipe in with_gates:
            pipe.store_gates = True
    return nlp


def doc_entities(doc: Doc, offset: int = 0, spans_key: Optional[str] = None
                 ) -> List[Dict[str, Any]]:
    """The entities of a (piece) doc with character offsets into the note (``offset`` is the
    piece's start), and each entity's mean gate values when the doc carries gates."""
    if spans_key is None:
        spans = doc.ents
    else:
        spans = doc.spans[spans_key] if spans_key in doc.spans else []
    gates = doc._.get(GATES_EXTENSION)
    entities = []
    for span in spans:
        entity = {"start": offset + span.start_char, "end": offset + span.end_char,
                  "label": span.label_, "text": span.text}
        if gates:
            entity["gates"] = {name: sum(values[span.start:span.end]) / len(span)
                               for name, values in gates.items()}
        entities.append(entity)
    return entities


def _pieces(notes: Iterable[Note], max_chars: int) -> Iterator[Tuple[str, tuple]]:
    for note in notes:
        pieces = split_text(note.text, max_chars)
        for k, (offset, piece) in enumerate(pieces):
            yield piece, (note.id, note.where, len(note.text), offset, k, len(pieces))


def merge_pieces(docs: Sequence[Doc], note_id: str) -> Doc:
    """One Doc for a note from its pieces (texts concatenate exactly), with the note id and
    the gates concatenated, for the DocBin output."""
    if len(docs) == 1:
        doc = docs[0]
    else:
        with warnings.catch_warnings():  # W101: doc-level extensions are not merged...
            warnings.simplefilter("ignore")
            doc = Doc.from_docs(list(docs), ensure_whitespace=False)
        gates = [d._.get(GATES_EXTENSION) for d in docs]
        if all(gates):  # ...so the gates are concatenated here
            doc._.set(GATES_EXTENSION, {name: [v for g in gates for v in g[name]]
                                        for name in gates[0]})
    doc.user_data[NOTE_ID_KEY] = note_id
    return doc


def char_batches(items: Iterable[Tuple[str, Any]], batch_size: int, batch_chars: int
                 ) -> Iterator[List[Tuple[str, Any]]]:
    """``(text, context)`` items in batches of at most ``batch_size`` items and, unless one
    item is longer alone, ``batch_chars`` characters.

    Why: the DTN's memory grows with the tokens of a batch (it packs, it does not pad), and a
    count of docs says nothing about tokens: 64 pieces of a long note are 64 times the tokens
    of 64 one-line notes. Cutting a long note alone bounds one Doc, not the batch.
    """
    batch, chars = [], 0
    for item in items:
        if batch and (len(batch) >= batch_size or chars + len(item[0]) > batch_chars):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += len(item[0])
    if batch:
        yield batch


def annotate_notes(nlp, notes: Iterable[Note], *, batch_size: int = 64, n_process: int = 1,
                   max_chars: int = 10_000, batch_chars: int = 50_000,
                   spans_key: Optional[str] = None, keep_docs: bool = False
                   ) -> Iterator[Tuple[Dict[str, Any], Optional[Doc]]]:
    """``(row, doc)`` per note, in order: the note's output row (with its ``where``) and, with
    ``keep_docs``, its Doc. Long notes go through ``nlp.pipe`` as pieces (:func:`split_text`)
    and come back as one row.

    In one process (and in every Ray actor) batches are bounded by ``batch_size`` pieces and
    ``batch_chars`` characters (:func:`char_batches`). spaCy's multiprocessing batches by
    count only, so with ``n_process > 1`` a batch is bounded by ``batch_size × max_chars``
    characters. ``nlp.pipe`` keeps the order either way.
    """
    pieces = _pieces(notes, max_chars)
    if n_process == 1:
        stream = chain.from_iterable(
            nlp.pipe(batch, as_tuples=True, batch_size=len(batch))
            for batch in char_batches(pieces, batch_size, batch_chars))
    else:
        stream = nlp.pipe(pieces, as_tuples=True, batch_size=batch_size, n_process=n_process)
    entities, n_words, docs = [], 0, []
    for doc, (note_id, where, n_chars, offset, k, n_pieces) in stream:
        if k == 0:
            entities, n_words, docs = [], 0, []
        entities += doc_entities(doc, offset, spans_key)
        n_words += len(doc)
        if keep_docs:
            docs.append(doc)
        if k == n_pieces - 1:
            row = {"id": note_id, "n_chars": n_chars, "n_words": n_words,
                   "entities": entities, "where": where, "n_pieces": n_pieces}
            yield row, (merge_pieces(docs, note_id) if keep_docs else None)
