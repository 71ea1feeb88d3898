"""The three resumable writers (JSONL, Parquet parts, DocBin parts) and the output reader.

Each knows the ids it has already written (``done``), so a rerun skips them, and writes whole
chunks only: a write cut off half way is cut back on the next open."""
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set, Union

from spacy.tokens import Doc, DocBin

from .records import NOTE_ID_KEY, AnnotateError, OutputFormat

OUTPUT_FIELDS = ("id", "n_chars", "n_words", "entities")


def output_record(row: Dict[str, Any]) -> Dict[str, Any]:
    return {name: row[name] for name in OUTPUT_FIELDS}


class JsonlWriter:
    """One line per note, appended a chunk at a time (one write, flushed and synced).

    A run killed at any moment leaves whole lines and at most one half line; the next run cuts
    the half line off and reads the ids of the whole ones (:attr:`done`) to skip them. A whole
    line that is not an annotate record means a foreign file: refused, never appended to.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.truncated = 0  # bytes of a half-written last line cut off on resume
        self.done: Set[str] = self._recover()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)

    def _recover(self) -> Set[str]:
        done: Set[str] = set()
        if not self.path.exists():
            return done
        good_end = 0
        with open(self.path, "rb") as f:
            for line_no, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    break  # the half line an interrupted write left
                try:
                    note_id = json.loads(raw)["id"]
                except (ValueError, KeyError, TypeError):
                    raise AnnotateError(f"{self.path}:{line_no}: not a record annotate "
                                        "writes; refusing to append to this file") from None
                done.add(note_id)
                good_end += len(raw)
        size = self.path.stat().st_size
        if good_end < size:
            os.truncate(self.path, good_end)
            self.truncated = size - good_end
        return done

    def write(self, rows: Sequence[Dict[str, Any]]) -> None:
        """All or nothing while this process lives: a failed write (a full disk, Ctrl-C) is cut
        back off, so that lines written after it never follow a half line."""
        data = memoryview("".join(json.dumps(output_record(r), ensure_ascii=False) + "\n"
                                  for r in rows).encode("utf-8"))
        fd = self._file.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, start)
            raise

    def close(self) -> None:
        self._file.close()


def parquet_schema():
    """One row per note; entities a list of structs; gates a name → mean map (null without)."""
    import pyarrow as pa

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                        ("text", pa.string()),
                        ("gates", pa.map_(pa.string(), pa.float64()))])
    return pa.schema([("id", pa.string()), ("n_chars", pa.int64()), ("n_words", pa.int64()),
                      ("entities", pa.list_(entity))])


class _Parts:
    """Numbered part files in a folder, each written whole under a temporary name and renamed
    into place, so a part either exists complete or not at all."""
    suffix = ""

    def __init__(self, folder: Union[str, Path]):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise AnnotateError(f"{self.folder} is a file; the output needs a folder of parts")
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob(f".part-*{self.suffix}.tmp"):
            tmp.unlink()  # an interrupted write
        self.next_index = 1 + max((self._index(p) for p in self.parts()), default=-1)

    def parts(self) -> List[Path]:
        return sorted(self.folder.glob(f"part-*{self.suffix}"))

    @staticmethod
    def _index(path: Path) -> int:
        return int(path.name.split(".")[0].split("-")[1])

    def _commit(self, write) -> Path:
        final = self.folder / f"part-{self.next_index:06d}{self.suffix}"
        tmp = self.folder / f".{final.name}.tmp"
        write(tmp)
        os.replace(tmp, final)
        self.next_index += 1
        return final


class ParquetWriter(_Parts):
    """A folder of Parquet parts, one per chunk of notes (readable as one dataset by pyarrow,
    pandas, Spark or Ray); :attr:`done` holds the ids of the parts already there."""
    suffix = ".parquet"

    def __init__(self, folder: Union[str, Path]):
        import pyarrow.parquet as pq

        super().__init__(folder)
        self.truncated = 0
        self.done: Set[str] = set()
        for part in self.parts():
            try:
                ids = pq.read_table(part, columns=["id"]).column("id").to_pylist()
            except Exception as err:  # ArrowInvalid, KeyError: not a part annotate wrote
                raise AnnotateError(f"{part}: not a part annotate writes ({err}); refusing "
                                    "to add parts to this folder") from None
            self.done.update(ids)

    def write(self, rows: Sequence[Dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([output_record(r) for r in rows], schema=parquet_schema())
        self._commit(lambda tmp: pq.write_table(table, tmp))

    def close(self) -> None:
        pass


class DocBinWriter(_Parts):
    """``--docbin``: a folder of DocBin parts, one per chunk, each Doc with its note id.

    A part is committed before the chunk's entities, so an interruption in between leaves a
    part whose notes the main output lacks: :meth:`recover` keeps only the notes the main output
    has (those are not redone), and the rest are annotated and written again in a new part.
    """
    suffix = ".spacy"

    def recover(self, done: Set[str], vocab) -> None:
        for part in self.parts():
            docs = list(DocBin().from_disk(part).get_docs(vocab))
            kept = [d for d in docs if d.user_data.get(NOTE_ID_KEY) in done]
            if not kept:
                part.unlink()
            elif len(kept) < len(docs):
                self._rewrite(part, kept)

    @staticmethod
    def _rewrite(part: Path, docs: List[Doc]) -> None:
        tmp = part.with_name(f".{part.name}.tmp")
        DocBin(docs=docs, store_user_data=True).to_disk(tmp)
        os.replace(tmp, part)

    def write(self, docs: Sequence[Doc]) -> None:
        self._commit(lambda tmp: DocBin(docs=docs, store_user_data=True).to_disk(tmp))


def detect_output_format(path: Path, fmt: OutputFormat = OutputFormat.auto) -> OutputFormat:
    if fmt != OutputFormat.auto:
        return fmt
    if path.suffix in (".jsonl", ".ndjson", ".json"):
        return OutputFormat.jsonl
    if path.suffix == ".parquet" or path.is_dir():
        return OutputFormat.parquet
    raise AnnotateError(f"Can't tell the output format of {path} (.jsonl or .parquet); "
                        "set --output-format")


def open_writer(path: Union[str, Path], fmt: OutputFormat = OutputFormat.auto):
    path = Path(path)
    if detect_output_format(path, fmt) == OutputFormat.jsonl:
        if path.is_dir():
            raise AnnotateError(f"{path} is a folder; JSONL output is one file")
        return JsonlWriter(path)
    return ParquetWriter(path)


def read_output(path: Union[str, Path], fmt: OutputFormat = OutputFormat.auto
                ) -> List[Dict[str, Any]]:
    """The records an annotate run wrote, in order, in JSONL's shape (gates as dicts, absent
    when null): for tests, checks and small outputs."""
    path = Path(path)
    if detect_output_format(path, fmt) == OutputFormat.jsonl:
        return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]
    import pyarrow.parquet as pq

    records = []
    for part in sorted(path.glob("part-*.parquet")):
        for rec in pq.read_table(part).to_pylist():
            for ent in rec["entities"]:
                gates = ent.pop("gates")
                if gates is not None:
                    ent["gates"] = dict(gates)
            records.append(rec)
    return records
