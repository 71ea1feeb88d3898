"""``python -m spacy_dtn grid``: :func:`spacy_dtn.tools.grid.run_grid` over the command's options."""
import shlex
import sys
from pathlib import Path
from typing import Optional

from wasabi import msg

from ..tools.compare import CompareError, default_results_name, parse_seeds
from ..tools.grid import DEFAULT_TTN_CONFIG, format_table, parse_settings, run_grid
from ._util import Opt, app, fail
from .compare import compare_options


@app.command("grid")
def grid_cli(
    # fmt: off
    target: Path = Opt(..., "--target", help="Target train DocBin, in full: each seed keeps its own --fraction of it"),
    source: Path = Opt(..., "--source", help="Source train DocBin (used in full by every transfer scheme)"),
    dev: Path = Opt(..., "--dev", help="Target dev DocBin: early stopping and model selection"),
    test: Path = Opt(..., "--test", help="Target test DocBin: the table's scores"),
    sharing: str = Opt("all", "--sharing", help="'all' (the 27 TTN codes, dtn, dtn_hs, baseline) or a comma-separated list of them, e.g. HIS,dtn"),
    output_dir: Optional[Path] = Opt(None, "--output-dir", help="compare's runs/ and tables, grid.json, table.md and grid.png go here (default: results/SOURCE-to-TARGET-PCTpct-grid)"),
    seeds: str = Opt("0", "--seeds", help="Comma-separated seeds (target subsample and training); add seeds later to the same folder"),
    fraction: float = Opt(0.1, "--fraction", help="Share of the target train sentences kept"),
    vectors: Optional[Path] = Opt(None, "--vectors", help="spaCy vectors pipeline for [paths] vectors (all systems); null: none"),
    max_steps: int = Opt(20000, "--max-steps", help="Step cap of every run; early stopping (--patience) ends runs first"),
    eval_frequency: int = Opt(200, "--eval-frequency", help="Steps between dev evaluations"),
    patience: int = Opt(1600, "--patience", help="Stop after this many steps without a better dev score"),
    dev_limit: int = Opt(0, "--dev-limit", help="Dev sentences scored at each evaluation (0: all)"),
    ttn_config: str = Opt(DEFAULT_TTN_CONFIG, "--ttn-config", help="Training config of the fixed schemes (its sharing is set per code)"),
    no_ner: bool = Opt(False, "--no-ner", help="Leave out spaCy's ner"),
    source_name: Optional[str] = Opt(None, "--source-name", help="Name of the source corpus in the tables (default: its folder)"),
    target_name: Optional[str] = Opt(None, "--target-name", help="Name of the target corpus in the tables (default: its folder)"),
    jobs: int = Opt(1, "--jobs", "-j", help="Runs trained at once (one process each)"),
    threads: int = Opt(1, "--threads", help="PyTorch/OpenMP threads per run (0: the library default)"),
    gpu_id: int = Opt(-1, "--gpu-id", help="GPU id, -1 for CPU"),
    report_only: bool = Opt(False, "--report-only", help="Train nothing: write the tables from the runs finished so far"),
    # fmt: on
) -> None:
    """Train the 27 fixed sharing schemes, DTN, DTN (HS), the baseline and spaCy's ner under
    compare's protocol (resumable); write the paper's Table 1, the claim and a plot."""
    args = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "grid" else sys.argv[1:]
    try:
        settings = parse_settings(sharing)
        seed_list = parse_seeds(seeds)
        options = compare_options(
            target=target, sources=[source], label_map=[], dev=dev, test=test,
            fraction=fraction, vectors=vectors, transformer=None, max_steps=max_steps,
            eval_frequency=eval_frequency, patience=patience, dev_limit=dev_limit,
            threads=threads, jobs=jobs, gpu_id=gpu_id, source_name=source_name,
            target_name=target_name, command="python -m spacy_dtn grid " + shlex.join(args))
        if output_dir is None:
            output_dir = Path("results") / default_results_name(
                options["source_name"], options["target_name"], fraction, "grid")
        grid = run_grid(settings, seed_list, output_dir, options, ttn_config=ttn_config,
                        with_ner=not no_ner, jobs=jobs, train=not report_only)
    except CompareError as err:
        fail(str(err))
    print(format_table(grid["table"]))
    msg.good(f"Wrote {output_dir / 'grid.json'}, {output_dir / 'table.md'} and the compare "
             "tables beside them")
