"""``python -m spacy_dtn compare``: :func:`spacy_dtn.tools.compare.run_compare` over the options."""
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from wasabi import msg

from ..tools.compare import (
    DEFAULT_SYSTEMS, CompareError, default_results_name, format_markdown, parse_label_map,
    parse_seeds, parse_systems, parse_taught_by, run_compare,
)
from ._util import Opt, app, fail


def _relative(path: Optional[Path]) -> Optional[str]:
    """A path as given, made relative to the working directory when it lies below it."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _transformer(name: Optional[str]) -> Optional[str]:
    """A local model folder as :func:`_relative` keeps it; a hub name as given."""
    if name is None or name in ("null", "None", ""):
        return None
    return _relative(Path(name)) if Path(name).is_dir() else name


def compare_options(
    *, target: Path, sources: List[Path], label_map: List[str], dev: Path, test: Path,
    fraction: float, vectors: Optional[Path], transformer: Optional[str], max_steps: int,
    eval_frequency: int, patience: int, dev_limit: int, threads: int, jobs: int, gpu_id: int,
    source_name: Optional[str], target_name: Optional[str], command: str,
    unlabeled: Optional[Path] = None, archive_complement: bool = False,
    taught_by: Sequence[str] = (),
) -> Dict[str, Any]:
    """The options of every run of a comparison (``compare`` and ``grid``), paths relative.

    Several sources are each their own task, named by their folders (two in one folder are an
    error); ``label_map`` is the ``--label-map`` entries, checked.
    """
    source_names = [path.parent.name for path in sources]
    if len(set(source_names)) < len(source_names):
        raise CompareError(
            f"--source: each source needs its own folder (its task name), got {source_names}")
    return dict(
        target=_relative(target), dev=_relative(dev),
        source=",".join(_relative(path) for path in sources) or None,
        source_names=source_names if len(sources) > 1 else None,
        label_map=parse_label_map(label_map),
        test=_relative(test), fraction=fraction,
        vectors=None if vectors is None or str(vectors) in ("null", "None") else _relative(vectors),
        transformer=_transformer(transformer),
        max_steps=max_steps, eval_frequency=eval_frequency, patience=patience,
        dev_limit=dev_limit, threads=threads, jobs=jobs, gpu_id=gpu_id,
        source_name=source_name or ("+".join(source_names) if sources else None),
        target_name=target_name or target.parent.name,
        command=command,
        unlabeled=_relative(unlabeled), archive_complement=archive_complement,
        taught_by=parse_taught_by(taught_by),
    )


@app.command("compare")
def compare_cli(
    # fmt: off
    target: Path = Opt(..., "--target", help="Target train DocBin, in full: each seed keeps its own --fraction of it"),
    source: List[Path] = Opt([], "--source", help="Source train DocBin (used in full by the transfer systems); repeat the option for several sources, each its own task named by its folder"),
    label_map: List[str] = Opt([], "--label-map", help="SOURCE_LABEL=TARGET_LABEL: tie a source label to a target label in every system that ties labels (default: each config's own, e.g. equal names) and in ner_pooled's pool; repeat the option"),
    dev: Path = Opt(..., "--dev", help="Target dev DocBin: early stopping and model selection"),
    test: Path = Opt(..., "--test", help="Target test DocBin: the reported scores"),
    output_dir: Optional[Path] = Opt(None, "--output-dir", help="runs/, compare.json and compare.md go here (default: results/SOURCE-to-TARGET-PCTpct[-SUFFIX])"),
    output_suffix: Optional[str] = Opt(None, "--output-suffix", help="Appended to the default --output-dir: a family of systems in its own table (e.g. trf: results/ncbi-disease-to-bc5cdr-10pct-trf)"),
    system: List[str] = Opt(list(DEFAULT_SYSTEMS), "--system", help="A system to train: dtn, dtn_hs, baseline, ner (the default four), dtn_partial, dtn_hs_partial (a source's unannotated types unknown), ner_pooled, ner_pool_ft (stock spaCy on the label-mapped pool, then fine-tuned on the target), dtn_tb, dtn_tb_ta, dtn_tb_one (several sources as one task), dtn_tb_pool (dtn_tb_one started from ner_pooled), dtn_crf, baseline_crf, dtn_trf, baseline_trf, ner_trf (over --transformer), ner_self, ner_self2, ner_self_ft (stock self-training on the archive: --unlabeled or --archive-complement), ner_pool_self, ner_pool_self_ft (the same taught by ner_pool_ft), ner_pool_prop, ner_pool_prop2 (ner_pool_self with label propagation, rounds 1 and 2), dtn_self, dtn_self_ft (the DTN as the student, taught by dtn), ner_30pct, ner_100pct (ner on 30 %/100 % of the target), or NAME=CONFIG [spacy train overrides]; repeat the option"),
    seeds: str = Opt("0,1,2", "--seeds", help="Comma-separated seeds (target subsample and training)"),
    fraction: float = Opt(0.1, "--fraction", help="Share of the target train sentences kept"),
    vectors: Optional[Path] = Opt(None, "--vectors", help="spaCy vectors pipeline for [paths] vectors (all systems); null: none"),
    transformer: Optional[str] = Opt(None, "--transformer", help="Hugging Face model name or local model folder for [paths] transformer (the *_trf systems; e.g. $(python scripts/transformer_path.py)); a local folder's hidden_size also sets [vars] transformer_width. Default: each config's own"),
    max_steps: int = Opt(20000, "--max-steps", help="Step cap of every run; early stopping (--patience) ends runs first"),
    eval_frequency: int = Opt(200, "--eval-frequency", help="Steps between dev evaluations"),
    patience: int = Opt(1600, "--patience", help="Stop after this many steps without a better dev score"),
    dev_limit: int = Opt(0, "--dev-limit", help="Dev sentences scored at each evaluation (0: all)"),
    source_name: Optional[str] = Opt(None, "--source-name", help="Name of the source corpus in the tables (default: its folder; several: the folders joined by +)"),
    target_name: Optional[str] = Opt(None, "--target-name", help="Name of the target corpus in the tables (default: its folder)"),
    jobs: int = Opt(1, "--jobs", "-j", help="Runs trained at once (one process each)"),
    threads: int = Opt(1, "--threads", help="PyTorch/OpenMP threads per run (0: the library default)"),
    gpu_id: int = Opt(-1, "--gpu-id", help="GPU id, -1 for CPU"),
    unlabeled: Optional[Path] = Opt(None, "--unlabeled", help="Unlabeled archive for [paths] unlabeled (ner_self, ner_self2): a DocBin (labels ignored) or the JSONL of texts annotate reads; its dev/test sentences are dropped and counted"),
    archive_complement: bool = Opt(False, "--archive-complement", help="Each seed's archive is the --target train docs outside that seed's --fraction, labels dropped, written to runs/seed-<s>/archive.spacy (the issue's setting; instead of --unlabeled)"),
    taught_by: List[str] = Opt([], "--taught-by", help="NAME=TEACHER: system NAME's archive is labelled by TEACHER's model-best of the same seed (e.g. a threshold variant ner_self_t9=... taught by ner, or ner_self taught by dtn_tb_one); beside the known pairs (ner_self by ner, ner_self2 by ner_self); repeat the option"),
    report_only: bool = Opt(False, "--report-only", help="Train nothing: write the tables from the runs finished so far"),
    # fmt: on
) -> None:
    """Train DTN, DTN (HS), the same network without transfer and spaCy's ner on the same
    target sentences, for several seeds, to convergence; write mean ± sd test scores."""
    args = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "compare" else sys.argv[1:]
    try:
        options = compare_options(
            target=target, sources=source, label_map=label_map, dev=dev, test=test,
            fraction=fraction, vectors=vectors, transformer=transformer, max_steps=max_steps,
            eval_frequency=eval_frequency, patience=patience, dev_limit=dev_limit,
            threads=threads, jobs=jobs, gpu_id=gpu_id, source_name=source_name,
            target_name=target_name, command="python -m spacy_dtn compare " + shlex.join(args),
            unlabeled=unlabeled, archive_complement=archive_complement, taught_by=taught_by)
    except CompareError as err:
        fail(str(err))
    if output_dir is None:
        output_dir = Path("results") / default_results_name(
            options["source_name"], options["target_name"], fraction, output_suffix)
    try:
        systems = parse_systems(system)
        seed_list = parse_seeds(seeds)
        result = run_compare(systems, seed_list, output_dir, options, jobs=jobs,
                             train=not report_only)
    except CompareError as err:
        fail(str(err))
    print(format_markdown(result))
    msg.good(f"Wrote {output_dir / 'compare.json'} and {output_dir / 'compare.md'}")
