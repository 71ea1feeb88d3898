"""``python -m spacy_dtn gates MODEL DATA``: :func:`spacy_dtn.tools.gates.gates`, reported."""
from pathlib import Path
from typing import Optional

from wasabi import msg

from ..tools.gates import GatesError, gates
from ._util import Arg, Opt, app, fail, set_torch_threads


@app.command("gates")
def gates_cli(
    # fmt: off
    model: str = Arg(..., help="Pipeline: a directory or a package name, with a dtn_ner of sharing dtn or dtn_hs"),
    data: Path = Arg(..., help="DocBin with gold entities (e.g. the target test set)"),
    output_dir: Path = Opt(..., "--output-dir", help="gates.json, gates.md, sentence PNG and HTML go here"),
    sentence: int = Opt(0, "--sentence", help="Index of the doc shown in the picture"),
    spans_key: Optional[str] = Opt(None, "--spans-key", help="Read predictions from doc.spans[KEY] (a dtn_ner with spans_key)"),
    torch_threads: int = Opt(1, "--torch-threads", help="CPU threads of PyTorch (0: PyTorch's default)"),
    # fmt: on
) -> None:
    """Average gate values per gold entity type (paper Table 4) and one sentence's gates."""
    set_torch_threads(torch_threads)
    try:
        table, written = gates(model, data, output_dir, sentence=sentence, spans_key=spans_key)
    except GatesError as err:
        fail(str(err))
    png = f"sentence-{sentence}.png"
    if png not in written:
        msg.warn(f"matplotlib is not installed (pip install 'spacy_dtn[plot]'): no {png}; "
                 f"sentence-{sentence}.html shows the same gates in the browser")
    print(table)
    msg.good(f"Wrote {', '.join(written)} to {output_dir}")
