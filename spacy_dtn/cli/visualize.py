"""``python -m spacy_dtn visualize MODEL DATA``: :func:`spacy_dtn.tools.visualize.visualize`, saved
or served."""
from pathlib import Path
from typing import Optional

from wasabi import msg

from ..tools.visualize import VisualizeError, serve, visualize
from ._util import Arg, Opt, app, fail, set_torch_threads


@app.command("visualize")
def visualize_cli(
    # fmt: off
    model: str = Arg(..., help="Pipeline: a directory or a package name (dtn_ner or any NER; a DTN gets a gate band)"),
    data: Path = Arg(..., help="DocBin with gold entities (e.g. the target test set)"),
    output: Optional[Path] = Opt(None, "--output", "-o", help="Write the page to this HTML file"),
    serve_port: Optional[int] = Opt(None, "--serve", help="Serve the page on this port (blocking)"),
    host: str = Opt("127.0.0.1", "--host", help="Address --serve listens on"),
    limit: Optional[int] = Opt(None, "--limit", help="Only the first N docs of DATA"),
    spans_key: Optional[str] = Opt(None, "--spans-key", help="Read predictions from doc.spans[KEY] (a dtn_ner with spans_key)"),
    torch_threads: int = Opt(1, "--torch-threads", help="CPU threads of PyTorch (0: PyTorch's default)"),
    # fmt: on
) -> None:
    """Gold and predicted entities per sentence, errors marked, counts per type, DTN gates."""
    if output is None and serve_port is None:
        fail("nothing to do: give --output PAGE.html or --serve PORT (or both)")
    set_torch_threads(torch_threads)
    try:
        page, n_docs = visualize(model, data, limit=limit, spans_key=spans_key)
    except VisualizeError as err:
        fail(str(err))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf8")
        msg.good(f"Wrote {output} ({n_docs} docs, {len(page.encode('utf8')) // 1024} KiB)")
    if serve_port is not None:
        serve(page, serve_port, host)
