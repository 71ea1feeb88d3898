"""Label propagation over an archive: what the teacher calls an entity in most places, it is
everywhere, and an abbreviation defined beside an entity takes that entity's label.

A teacher trained on a few hundred sentences misses mentions it finds elsewhere: a drug name
in one context and not in the next, ``ESRD`` after it tagged ``end - stage renal disease (
ESRD )``. Its silver then teaches the student that those mentions are ``O``. Two corpus-level
rules, the usual post-processing of biomedical taggers, add them back before the student
trains (:class:`spacy_dtn.self_training.SelfTrainingCorpus`, ``propagate = true``):

* **Abbreviations.** A token of 2 to 10 characters with an upper-case letter, in parentheses
  right after an entity (``LONG ( ABBR )``) and not itself in an entity, is an abbreviation of
  that entity's label; every other occurrence of it (case kept) gets that label.
* **Lexicon.** A string (lower-cased tokens) that the gold or the teacher labels ``L`` in at
  least ``MIN_SHARE`` of the places it occurs, counted over the gold and the archive, is an
  ``L`` wherever else it occurs. One-token strings under 3 characters are left out.

New entities only go where every token is ``O`` in the teacher's output (never over or across
an entity), longest first. On the seed-0 BC5CDR archive (4,104 sentences; teacher
``ner_pool_ft``) the two rules took the silver's entity F1 against the archive's true labels
from 77.2 to 79.0 (precision 82.2 to 81.2, recall 72.8 to 76.8; BENCHMARKS.md).
"""
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import filter_spans

#: A predicted entity: token start, token end (exclusive), label.
EntityT = Tuple[int, int, str]

#: The share of a string's occurrences that must carry a label for the lexicon to keep it.
MIN_SHARE = 0.5


def _key(doc: Doc, start: int, end: int) -> Tuple[str, ...]:
    return tuple(token.text.lower() for token in doc[start:end])


def abbreviations(docs: Sequence[Doc], entities: Sequence[Sequence[EntityT]]) -> Dict[str, str]:
    """The abbreviations defined beside an entity (``LONG ( ABBR )``): text -> label, the
    label defined most often where one text is defined with several."""
    counts: Counter = Counter()
    for doc, ents in zip(docs, entities):
        inside = {i for start, end, _ in ents for i in range(start, end)}
        for start, end, label in ents:
            if end + 2 < len(doc) and doc[end].text == "(" and doc[end + 2].text == ")":
                text = doc[end + 1].text
                if (2 <= len(text) <= 10 and any(c.isupper() for c in text)
                        and end + 1 not in inside):
                    counts[(text, label)] += 1
    best: Dict[str, str] = {}
    for (text, label), n in counts.most_common():
        best.setdefault(text, label)
    return best


def lexicon(docs: Sequence[Doc], entities: Sequence[Sequence[EntityT]],
            min_share: float = MIN_SHARE) -> Dict[Tuple[str, ...], str]:
    """The strings labelled ``L`` in at least ``min_share`` of their occurrences in ``docs``:
    lower-cased tokens -> label (the most frequent label where a string has several)."""
    labelled: Counter = Counter()
    for doc, ents in zip(docs, entities):
        for start, end, label in ents:
            labelled[(_key(doc, start, end), label)] += 1
    strings = {key for key, _ in labelled if not (len(key) == 1 and len(key[0]) < 3)}
    if not strings or not docs:
        return {}
    occurrences = Counter(_key(doc, start, end)
                          for doc, matches in zip(docs, _matches(docs, strings))
                          for start, end in matches)
    best: Dict[Tuple[str, ...], str] = {}
    for (key, label), n in labelled.most_common():
        if key in strings and key not in best and n >= min_share * occurrences[key]:
            best[key] = label
    return best


def _matches(docs: Sequence[Doc], strings) -> List[List[Tuple[int, int]]]:
    """Where each of the lower-cased token ``strings`` occurs in each doc (every window of a
    string's length, looked up in the set)."""
    lengths = sorted({len(key) for key in strings})
    found = []
    for doc in docs:
        lower = [token.text.lower() for token in doc]
        found.append([(start, start + n) for n in lengths for start in range(len(doc) - n + 1)
                      if tuple(lower[start:start + n]) in strings])
    return found


def propagate(docs: Sequence[Doc], entities: Sequence[Sequence[EntityT]],
              known: Sequence[Tuple[Doc, Sequence[EntityT]]] = ()) -> List[List[EntityT]]:
    """Each doc's entities plus those the two rules add (see the module's docstring).

    ``docs``/``entities``: the archive and the teacher's entities on it; ``known``: labelled
    docs that inform the rules (the gold) but get nothing added. Returns, per doc, its
    entities and the added ones, sorted by start.
    """
    all_docs = [doc for doc, _ in known] + list(docs)
    all_entities = [list(ents) for _, ents in known] + [list(ents) for ents in entities]
    defined = abbreviations(all_docs, all_entities)
    strings = lexicon(all_docs, all_entities)
    where = _matches(docs, strings) if strings and docs else [[] for _ in docs]
    result = []
    for doc, ents, matches in zip(docs, entities, where):
        taken = [False] * len(doc)
        for start, end, _ in ents:
            taken[start:end] = [True] * (end - start)
        spans = [doc[start:end] for start, end in matches
                 if _key(doc, start, end) in strings]
        added = [(span.start, span.end, strings[_key(doc, span.start, span.end)])
                 for span in filter_spans(spans) if not any(taken[span.start:span.end])]
        for start, end, _ in added:
            taken[start:end] = [True] * (end - start)
        added += [(i, i + 1, defined[token.text]) for i, token in enumerate(doc)
                  if token.text in defined and not taken[i]]
        result.append(sorted([*ents, *added]))
    return result
