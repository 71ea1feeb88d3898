"""``python -m spacy_dtn grid``: :func:`spacy_dtn.tools.grid.run_grid` over the command's options."""
import shlex
import sys
from pathlib import Path
from typing import Optional

from wasabi import msg

from ..tools.grid import GridError, format_table, parse_settings, run_grid
from ._util import Opt, app, fail, set_torch_threads


@app.command("grid")
def grid_cli(
    # fmt: off
    target: Path = Opt(..., "--target", help="Target train DocBin (the fraction is taken from it)"),
    source: Path = Opt(..., "--source", help="Source train DocBin (used in full)"),
    dev: Path = Opt(..., "--dev", help="Target dev DocBin: early stopping"),
    test: Path = Opt(..., "--test", help="Target test DocBin: the table's scores"),
    sharing: str = Opt("dtn,dtn_hs,baseline", "--sharing", help="Comma-separated sharing settings, 'all' (27 TTN codes + dtn + dtn_hs + baseline) or 'none' (spaCy ner only)"),
    output_dir: Path = Opt(..., "--output-dir", help="Runs, results.json and table.md go here"),
    max_steps: int = Opt(2000, "--max-steps", help="Training steps of every run (the budget)"),
    eval_frequency: int = Opt(200, "--eval-frequency", help="Steps between dev evaluations"),
    patience: int = Opt(1600, "--patience", help="Stop after this many steps without a better dev score (0: never)"),
    fraction: float = Opt(0.1, "--fraction", help="Share of the target train sentences used"),
    seed: int = Opt(0, "--seed", help="Seed of training and of the target subsample"),
    vectors: Optional[Path] = Opt(None, "--vectors", help="spaCy vectors (e.g. GloVe) for [paths] vectors"),
    config: Path = Opt(Path("configs/dtn.cfg"), "--config", help="dtn_ner training config"),
    ner_config: Path = Opt(Path("configs/ner_efficiency.cfg"), "--ner-config", help="spaCy ner config (target alone)"),
    no_ner: bool = Opt(False, "--no-ner", help="Leave out the spaCy ner row"),
    gpu_id: int = Opt(-1, "--gpu-id", help="GPU id, -1 for CPU"),
    torch_threads: int = Opt(1, "--torch-threads", help="CPU threads of PyTorch (0: PyTorch's default)"),
    # fmt: on
) -> None:
    """Train and score sharing settings under one budget; write the paper's Table 1."""
    options = dict(target=str(target), source=str(source), dev=str(dev), test=str(test),
                   max_steps=max_steps, eval_frequency=eval_frequency, patience=patience,
                   fraction=fraction, seed=seed, vectors=str(vectors) if vectors else None,
                   torch_threads=torch_threads,
                   command="python -m spacy_dtn grid " + shlex.join(sys.argv[2:] if
                   len(sys.argv) > 1 and sys.argv[1] == "grid" else sys.argv[1:]))
    set_torch_threads(torch_threads)
    try:
        settings = parse_settings(sharing)
        if not settings and no_ner:
            raise GridError("nothing to run: --sharing none with --no-ner")
        output_dir.mkdir(parents=True, exist_ok=True)
        out = run_grid(settings, output_dir, options, config, None if no_ner else ner_config,
                       use_gpu=gpu_id)
    except GridError as err:
        fail(str(err))
    print(format_table(out["table"]))
    msg.good(f"Wrote {output_dir / 'results.json'} and {output_dir / 'table.md'}")
