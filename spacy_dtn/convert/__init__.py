"""Converters from corpus formats to spaCy Docs (and DocBins), one module per format.

Each ``convert_*`` function returns ``(docs, summary)``: a generator of Docs and the
:class:`ConversionSummary` it fills (complete once the Docs have been consumed).
"""

from .conll2003 import convert_conll2003
from .docs import write_docbin
from .errors import ConversionError
from .i2b2_2009 import LABELS as I2B2_2009_LABELS
from .i2b2_2009 import convert_i2b2_2009
from .i2b2_2010 import convert_i2b2_2010
from .iob import convert_iob
from .ontonotes import convert_ontonotes
from .summary import ConversionSummary
from .tags import docs_to_iob

__all__ = [
    "ConversionError",
    "ConversionSummary",
    "I2B2_2009_LABELS",
    "convert_conll2003",
    "convert_i2b2_2009",
    "convert_i2b2_2010",
    "convert_iob",
    "convert_ontonotes",
    "docs_to_iob",
    "write_docbin",
]
