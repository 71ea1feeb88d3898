"""The one exception every converter raises for bad input.

A user who hands us a broken corpus needs to know *where* it is broken: every
:class:`ConversionError` names the file and, where there is one, the line (1-based). The
message never quotes the input text itself (clinical notes must not end up in logs) unless
the converter was asked to ``show_text``.
"""

from pathlib import Path
from typing import Optional, Union


class ConversionError(ValueError):
    """Bad input at ``path``, line ``line`` (1-based; ``None`` when the whole file is at fault)."""

    def __init__(self, path: Union[str, Path], line: Optional[int], message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.path, self.line, self.message))

