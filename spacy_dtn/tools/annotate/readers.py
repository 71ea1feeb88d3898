"""The readers: JSONL, Parquet and text files, planned as read tasks.

An input is planned as read tasks (plain dicts, so they travel to Ray workers): a byte range
of a JSONL file with its first line number, row groups of a Parquet file, or a list of .txt
files. The local backend reads them in order in one process; the Ray backend reads them in
parallel tasks. Either way every record keeps the line that names it in a report.
"""
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .records import (AnnotateError, BadRecord, InputFormat, Note, Record, check_record,
                      parse_jsonl_line, unicode_problem)

#: The largest JSONL read task of the Ray backend: large enough to amortise a task, small
#: enough that many tasks feed the actors of a big cluster.
RAY_READ_BYTES = 16 * 2**20


def read_jsonl(path: Union[str, Path], id_field: str = "id", text_field: str = "text",
               start: int = 0, stop: Optional[int] = None, first_line: int = 1
               ) -> Iterator[Record]:
    """The records of ``path`` between byte ``start`` (a line start) and ``stop``, read line by
    line in binary so that invalid UTF-8 is one bad record, not a crash of the whole job."""
    line_no = first_line
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while stop is None or pos < stop:
            raw = f.readline()
            if not raw:
                break
            pos += len(raw)
            record = parse_jsonl_line(raw, f"{path}:{line_no}", id_field, text_field)
            line_no += 1
            if record is not None:
                yield record


def plan_jsonl_ranges(path: Union[str, Path], target_bytes: int) -> List[Tuple[int, int, int]]:
    """``(start, stop, first_line)`` byte ranges of about ``target_bytes`` that end at line
    ends, so that parallel readers split no record and still number every line (one cheap pass
    counting newlines)."""
    size = os.path.getsize(path)
    ranges, start, line = [], 0, 1
    with open(path, "rb") as f:
        while start < size:
            f.seek(min(start + target_bytes, size))
            f.readline()  # to the end of the line the target falls in
            stop = min(f.tell(), size)
            f.seek(start)
            newlines, left = 0, stop - start
            while left:
                block = f.read(min(left, 2**20))
                newlines += block.count(b"\n")
                left -= len(block)
            ranges.append((start, stop, line))
            start, line = stop, line + newlines
    return ranges


def _as_text(value: Any, where: str) -> Tuple[Any, Optional[BadRecord]]:
    """A Parquet cell read as bytes, decoded strictly (Arrow does not check that a string
    column holds valid UTF-8, and one bad cell must not fail a whole batch)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as err:
            return None, BadRecord(where, f"invalid UTF-8 at byte {err.start}")
    return value, None


def _binary(column):
    """A string column viewed as binary, so that cells decode one at a time."""
    import pyarrow as pa

    if pa.types.is_string(column.type):
        return column.cast(pa.binary())
    if pa.types.is_large_string(column.type):
        return column.cast(pa.large_binary())
    return column


def read_parquet(path: Union[str, Path], id_field: str = "id", text_field: str = "text",
                 row_groups: Optional[Sequence[int]] = None) -> Iterator[Record]:
    """The records of a Parquet file (the given row groups, or all), a batch at a time."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    missing = [c for c in (id_field, text_field) if c not in pf.schema_arrow.names]
    if missing:
        raise AnnotateError(f"{path} has no column {missing[0]!r} (columns: "
                            f"{', '.join(pf.schema_arrow.names)}); set --id-field/--text-field")
    first_row = [0]
    for g in range(pf.num_row_groups):
        first_row.append(first_row[-1] + pf.metadata.row_group(g).num_rows)
    for g in range(pf.num_row_groups) if row_groups is None else row_groups:
        row = first_row[g]
        for batch in pf.iter_batches(batch_size=1024, row_groups=[g],
                                     columns=[id_field, text_field]):
            ids = _binary(batch.column(0)).to_pylist()
            texts = _binary(batch.column(1)).to_pylist()
            for note_id, text in zip(ids, texts):
                row += 1
                where = f"{path}:row {row}"
                note_id, bad = _as_text(note_id, where)
                if bad is None:
                    text, bad = _as_text(text, where)
                yield bad or check_record({id_field: note_id, text_field: text}, where,
                                          id_field, text_field)


def read_txt_files(folder: Union[str, Path], paths: Sequence[str]) -> Iterator[Record]:
    """One note per ``.txt`` file; its id is its path under ``folder`` without ``.txt``."""
    folder = Path(folder)
    for name in paths:
        path = folder / name
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            yield BadRecord(str(path), f"invalid UTF-8 at byte {err.start}")
            continue
        problem = unicode_problem(text)
        yield BadRecord(str(path), problem) if problem else Note(
            Path(name).with_suffix("").as_posix(), text, str(path))


def detect_input_format(path: Path, fmt: InputFormat = InputFormat.auto) -> InputFormat:
    """JSONL unless the name ends in ``.parquet``; a folder holds ``.txt`` notes, or Parquet
    files when it has no ``.txt`` but ``.parquet`` files (a Parquet dataset)."""
    if not path.exists():
        raise AnnotateError(f"Input not found: {path}")
    if fmt != InputFormat.auto:
        return fmt
    if path.is_dir():
        has_txt = next(path.rglob("*.txt"), None) is not None
        if not has_txt and next(path.glob("*.parquet"), None) is not None:
            return InputFormat.parquet
        return InputFormat.txt
    return InputFormat.parquet if path.suffix == ".parquet" else InputFormat.jsonl


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, value)))


def plan_read_tasks(path: Union[str, Path], fmt: InputFormat = InputFormat.auto,
                    id_field: str = "id", text_field: str = "text", parallel: int = 0
                    ) -> List[Dict[str, Any]]:
    """The read tasks of an input: one per file for ``parallel=0`` (the local backend reads
    in order anyway); for ``parallel`` readers, about ``4 × parallel`` tasks or more (JSONL byte
    ranges of 64 KiB to 16 MiB, Parquet row groups, up to 1,000 .txt files a task), since
    Ray gives each actor whole blocks: one task for a small file would feed one actor only."""
    path = Path(path)
    fmt = detect_input_format(path, fmt)
    base = {"format": fmt.value, "id_field": id_field, "text_field": text_field}
    if fmt == InputFormat.txt:
        if not path.is_dir():
            raise AnnotateError(f"--input-format txt needs a folder of .txt notes: {path}")
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.txt")
                       if p.is_file())
        per_task = _clamp(-(-len(names) // (4 * parallel)), 1, 1000) if parallel else len(names)
        return [{**base, "folder": str(path), "paths": names[i:i + per_task]}
                for i in range(0, len(names), max(1, per_task))]
    files = sorted(path.glob(f"*.{fmt.value}")) if path.is_dir() else [path]
    split_bytes = None
    if parallel:
        total = sum(f.stat().st_size for f in files)
        split_bytes = _clamp(total / (4 * parallel), 64 * 2**10, RAY_READ_BYTES)
    tasks = []
    for file in files:
        if fmt == InputFormat.parquet:
            import pyarrow.parquet as pq

            try:
                n_groups = pq.ParquetFile(file).num_row_groups
            except Exception as err:  # ArrowInvalid and friends: not a Parquet file
                raise AnnotateError(f"Can't read {file} as Parquet: {err}") from None
            groups = [[g] for g in range(n_groups)] if split_bytes else [list(range(n_groups))]
            tasks += [{**base, "path": str(file), "row_groups": g} for g in groups if g]
        elif split_bytes:
            tasks += [{**base, "path": str(file), "start": a, "stop": b, "first_line": n}
                      for a, b, n in plan_jsonl_ranges(file, split_bytes)]
        else:
            tasks.append({**base, "path": str(file), "start": 0, "stop": None, "first_line": 1})
    return tasks


def read_task(task: Dict[str, Any]) -> Iterator[Record]:
    """The records of one read task from :func:`plan_read_tasks`."""
    fields = task["id_field"], task["text_field"]
    if task["format"] == InputFormat.txt.value:
        return read_txt_files(task["folder"], task["paths"])
    if task["format"] == InputFormat.parquet.value:
        return read_parquet(task["path"], *fields, row_groups=task["row_groups"])
    return read_jsonl(task["path"], *fields, start=task["start"], stop=task["stop"],
                      first_line=task["first_line"])


def count_notes(tasks: Sequence[Dict[str, Any]]) -> Optional[int]:
    """The number of records when it is known without reading them (a progress bar total)."""
    total = 0
    for task in tasks:
        if task["format"] == InputFormat.txt.value:
            total += len(task["paths"])
        elif task["format"] == InputFormat.parquet.value:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(task["path"]).metadata
            total += sum(meta.row_group(g).num_rows for g in task["row_groups"])
        else:
            return None
    return total
