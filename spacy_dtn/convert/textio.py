"""Reading input files line by line as strict UTF-8, with the line number of any bad byte.

Python's own decoding error gives a byte offset into the whole file, which is useless to a
user with a 3 MB corpus; here every line is decoded on its own, so that a converter can name
the line and, in lenient mode, skip only the item that holds it. This is also the one place
where a UTF-8 byte-order mark (which Windows editors write) is removed, for every reader.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, List, Tuple, Union

from .errors import ConversionError

if TYPE_CHECKING:  # pragma: no cover
    from .summary import ConversionSummary

BOM = b"\xef\xbb\xbf"


class BadLine:
    """Stands in for a line that is not valid UTF-8; ``error`` says where."""

    __slots__ = ("error",)

    def __init__(self, error: ConversionError) -> None:
        self.error = error


Line = Union[str, BadLine]


def decode_lines(data: bytes, path: Union[str, Path], summary: "ConversionSummary") -> List[Line]:
    """Split ``data`` on ``\\n`` (dropping a trailing ``\\r``) and decode each line as UTF-8.

    Only ``\\n`` ends a line: ``str.splitlines`` would also split on form feeds and Unicode
    separators and shift the line numbers that annotation offsets refer to. A byte-order mark
    at the start is not text (it would stick to the first token): it is removed, and counted
    as repaired.
    """
    if data.startswith(BOM):
        data = data[len(BOM) :]
        summary.repair("byte-order mark removed")
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    out: List[Line] = []
    for number, raw in enumerate(raw_lines, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            out.append(
                BadLine(
                    ConversionError(
                        path,
                        number,
                        f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})",
                    )
                )
            )
    return out


def read_bytes(path: Union[str, Path]) -> bytes:
    """The bytes of the file at ``path``; a file that can't be read raises ConversionError."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConversionError(path, None, f"cannot read file ({err.strerror or err})") from None


def read_lines(path: Union[str, Path], summary: "ConversionSummary") -> List[Line]:
    """The lines of the file at ``path`` (see :func:`decode_lines`)."""
    return decode_lines(read_bytes(path), path, summary)


def numbered(lines: Iterable[Line]) -> Iterator[Tuple[int, Line]]:
    """``(line_number, line)`` pairs, numbered from 1 as editors and error messages do."""
    return enumerate(lines, start=1)
