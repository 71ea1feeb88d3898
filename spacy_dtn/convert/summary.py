"""The conversion report: what was read, what was written, and everything that was changed.

Users lose trust in a converter that silently drops or alters annotations. Every converter
fills one :class:`ConversionSummary`; the CLI prints it as tables (wasabi) and can keep it as
JSON. Anything repaired, merged, dropped or skipped is counted here, with a finer breakdown by
reason in ``details``.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from wasabi import Printer

from .errors import ConversionError

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc

#: At most this many problem messages are kept (all are counted).
MAX_PROBLEMS = 1000


@dataclass
class ConversionSummary:
    """Counts of one conversion run.

    * ``files_read``: input files opened (for i2b2 a note and its annotation file are two).
    * ``documents``: input documents converted (CoNLL ``-DOCSTART-`` documents, OntoNotes
      ``#begin document`` parts, i2b2 notes).
    * ``sentences``: input sentences (lines for i2b2) written into Docs; ``docs`` and
      ``tokens``: what the output holds; ``entities``: ``doc.ents`` written, per label.
    * ``repaired``: input defects accepted and fixed; ``merged``: sentences joined to the one
      before (an entity crossing their boundary); ``dropped_duplicate`` and
      ``dropped_overlap``: entities not written because an identical one, or an overlapping
      one that was kept, exists; ``skipped``: items left out in lenient mode;
      ``discontinuous_pieces``: entities written for the pieces of discontinuous fields.
    """

    format: str
    scheme: Optional[str] = None
    files_read: int = 0
    documents: int = 0
    sentences: int = 0
    docs: int = 0
    tokens: int = 0
    entities: Counter = field(default_factory=Counter)
    repaired: int = 0
    merged: int = 0
    dropped_duplicate: int = 0
    dropped_overlap: int = 0
    skipped: int = 0
    discontinuous_pieces: int = 0
    details: Counter = field(default_factory=Counter)
    groups: Dict[str, Counter] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)

    # -- recording -------------------------------------------------------------------------
    def add_doc(self, doc: "Doc") -> None:
        """Count a Doc that is written to the output."""
        self.docs += 1
        self.tokens += len(doc)
        self.entities.update(ent.label_ for ent in doc.ents)

    def repair(self, reason: str, n: int = 1) -> None:
        self.repaired += n
        self.details[f"repaired: {reason}"] += n

    def skip(self, what: str, error: ConversionError) -> None:
        """Count an item left out in lenient mode, and keep where it was (no input text)."""
        self.skipped += 1
        self.details[f"skipped: {what}"] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(str(error))

    def skip_or_raise(self, error: ConversionError, *, lenient: bool, what: str) -> None:
        """Raise ``error``, or (``lenient``) count the skipped ``what`` and go on.

        Converters call this at every point where an input item cannot be converted faithfully,
        so that strict mode stops at the first problem and lenient mode never drops anything
        without counting it.
        """
        if not lenient:
            raise error
        self.skip(what, error)

    def note(self, what: str, n: int = 1) -> None:
        """Count something worth knowing that changes nothing (e.g. ``nm`` fields)."""
        if n:
            self.details[what] += n

    def group(self, name: str, key: str, n: int = 1) -> None:
        """Count under a named breakdown, e.g. sentences per OntoNotes genre."""
        self.groups.setdefault(name, Counter())[key] += n

    # -- reporting -------------------------------------------------------------------------
    @property
    def n_entities(self) -> int:
        return sum(self.entities.values())

    def to_dict(self) -> Dict[str, Any]:
        return {
            "format": self.format,
            "scheme": self.scheme,
            "files_read": self.files_read,
            "documents": self.documents,
            "sentences": self.sentences,
            "docs": self.docs,
            "tokens": self.tokens,
            "entities": dict(sorted(self.entities.items())),
            "entities_total": self.n_entities,
            "repaired": self.repaired,
            "merged": self.merged,
            "dropped_duplicate": self.dropped_duplicate,
            "dropped_overlap": self.dropped_overlap,
            "skipped": self.skipped,
            "discontinuous_pieces": self.discontinuous_pieces,
            "details": dict(sorted(self.details.items())),
            "groups": {k: dict(sorted(v.items())) for k, v in sorted(self.groups.items())},
            "problems": list(self.problems),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def print(self, printer: Optional[Printer] = None, max_problems: int = 20) -> None:
        """Print the report as tables (counts, entities per label, details, problems)."""
        msg = printer or Printer()
        title = f"Conversion summary: {self.format}"
        if self.scheme:
            title += f" ({self.scheme})"
        msg.divider(title)
        rows = [
            ("files read", self.files_read),
            ("documents", self.documents),
            ("sentences", self.sentences),
            ("Docs written", self.docs),
            ("tokens written", self.tokens),
            ("entities written", self.n_entities),
            ("repaired", self.repaired),
            ("merged (sentences joined)", self.merged),
            ("dropped as duplicate", self.dropped_duplicate),
            ("dropped as overlap", self.dropped_overlap),
            ("skipped", self.skipped),
            ("discontinuous pieces", self.discontinuous_pieces),
        ]
        msg.table([(k, f"{v:,}") for k, v in rows], aligns=("l", "r"))
        if self.entities:
            msg.table(
                [(label, f"{n:,}") for label, n in sorted(self.entities.items())],
                header=("label", "entities"),
                divider=True,
                aligns=("l", "r"),
            )
        if self.details:
            msg.table(
                [(k, f"{v:,}") for k, v in sorted(self.details.items())],
                header=("detail", "count"),
                divider=True,
                aligns=("l", "r"),
            )
        for name, counts in sorted(self.groups.items()):
            msg.table(
                [(k, f"{v:,}") for k, v in sorted(counts.items())],
                header=(name, "count"),
                divider=True,
                aligns=("l", "r"),
            )
        if self.problems:
            msg.warn(f"{self.skipped:,} item(s) skipped (lenient mode):")
            # print(), not msg.text(): wasabi wraps at 80 columns and would split long paths
            for line in self.problems[:max_problems]:
                print(f"  {line}")
            if self.skipped > max_problems:
                print(f"  ... and {self.skipped - max_problems:,} more (see the JSON summary)")
