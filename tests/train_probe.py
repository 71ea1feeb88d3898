"""Loaded by ``spacy train --code tests/train_probe.py`` in tests/test_train_cli.py.

``dtn_test.recording_batcher.v1`` wraps any batcher (the one of configs/dtn.cfg) and writes,
for every batch it yields, the tasks of its examples and its size to a JSONL file, so the test
can check what the training loop was fed.
"""
from pathlib import Path

import srsly
from spacy import registry

from spacy_dtn.tasks import get_task


@registry.batchers("dtn_test.recording_batcher.v1")
def recording_batcher(batcher, path: Path):
    def record(examples):
        with Path(path).open("a", encoding="utf-8") as f:
            for batch in batcher(examples):
                tasks = sorted({get_task(eg) for eg in batch})
                f.write(srsly.json_dumps({"tasks": tasks, "size": len(batch)}) + "\n")
                f.flush()
                yield batch

    return record
