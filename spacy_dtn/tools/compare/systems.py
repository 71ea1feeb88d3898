"""The systems of the comparison: their names and configs (as given on the command line or
the defaults), which system pretrains or teaches which, what a config reads, and one run of
the grid (a seed and a system, with its folder and its marker of completion)."""
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple



#: The systems of the comparison and the config each trains, unless ``--system`` says otherwise.
DEFAULT_SYSTEMS = {
    "dtn": "configs/dtn.cfg",
    "dtn_hs": "configs/dtn_hs.cfg",
    "baseline": "configs/baseline.cfg",
    "ner": "configs/ner_efficiency.cfg",
}
#: Systems known by name beyond the defaults: the DTN on spaCy's own ner
#: (``dtn_transition_ner``), without and with label-mapped output sharing, with several
#: source files read as one source task (``dtn_tb_one``; ``dtn_tb_pool`` starts it from
#: ``ner_pooled``); the BiLSTM DTN
#: and its baseline with the CRF output (``decoder = "crf"``); over a transformer
#: (``--transformer``): the DTN, its baseline and spaCy's own transformer ``ner``. Stock
#: spaCy's self-training on the unlabeled archive (``--unlabeled``, ``--archive-complement``):
#: ``ner_self`` (gold + ``ner``'s silver), ``ner_self2`` (its second round: ``ner_self`` the
#: teacher), ``ner_self_ft`` (``ner_self``, then the gold alone); ``ner_pool_self`` and
#: ``ner_pool_self_ft``, the same taught by stock spaCy's transfer (``ner_pool_ft``): the
#: sources reach the archive through the teacher; ``ner_pool_prop`` and ``ner_pool_prop2``,
#: ``ner_pool_self`` with label propagation over the silver (``propagate``,
#: :mod:`spacy_dtn.propagation`) and its second round; ``dtn_self`` and ``dtn_self_ft``, the DTN
#: as the student (gold, sources and ``dtn``'s silver at once; then the target alone). The
#: label-equivalence line:
#: ``ner_30pct`` and ``ner_100pct``, spaCy ``ner`` on 30 % and 100 % of the target's train
#: (the seed's 30 % holds its 10 %: one ranking, :mod:`spacy_dtn.subsample`); their fraction
#: comes after compare's ``--fraction`` on the command line, so theirs wins.
KNOWN_SYSTEMS = {
    **DEFAULT_SYSTEMS,
    "dtn_crf": "configs/dtn.cfg --components.dtn_ner.model.decoder crf",
    "baseline_crf": "configs/baseline.cfg --components.dtn_ner.model.decoder crf",
    "dtn_partial": "configs/dtn.cfg --components.dtn_ner.model.unannotated unknown",
    "dtn_hs_partial": "configs/dtn_hs.cfg --components.dtn_ner.model.unannotated unknown",
    "ner_pooled": "configs/ner_pooled.cfg",
    "ner_pool_ft": "configs/ner_pool_ft.cfg",
    "dtn_partial_ft": "configs/dtn_ft.cfg",
    "ner_filled": "configs/ner_pooled.cfg",
    "ner_fill_ft": "configs/ner_pool_ft.cfg",
    "dtn_filled": "configs/dtn.cfg",
    "dtn_tb": "configs/dtn_tb.cfg",
    "dtn_tb_ta": "configs/dtn_tb.cfg --components.dtn_transition_ner.model.label_map name",
    "dtn_tb_one": "configs/dtn_tb.cfg --corpora.train.source_name source",
    "dtn_tb_pool": "configs/dtn_tb.cfg --corpora.train.source_name source",
    "dtn_trf": "configs/dtn_trf.cfg",
    "baseline_trf": "configs/baseline_trf.cfg",
    "ner_trf": "configs/ner_trf.cfg",
    "ner_self": "configs/ner_self.cfg",
    "ner_self2": "configs/ner_self.cfg",
    "ner_self_ft": "configs/ner_self_ft.cfg",
    "ner_pool_self": "configs/ner_self.cfg",
    "ner_pool_self_ft": "configs/ner_self_ft.cfg",
    "ner_pool_prop": "configs/ner_self.cfg --corpora.train.propagate true",
    "ner_pool_prop2": "configs/ner_self.cfg --corpora.train.propagate true",
    "dtn_self": "configs/dtn_self.cfg",
    "dtn_self_ft": "configs/dtn_ft.cfg",
    "ner_30pct": "configs/ner_efficiency.cfg --corpora.train.target_fraction 0.3",
    "ner_100pct": "configs/ner_efficiency.cfg --corpora.train.target_fraction 1.0",
}
#: Systems that train on from another system's model-best of the same seed (its
#: ``[paths] pretrained``): stock spaCy's pre-train on the pool, then fine-tune on the target.
#: Any other system named ``X_ft`` whose config has ``[paths] pretrained`` trains on ``X``.
PRETRAINED_BY = {"ner_pool_ft": "ner_pooled", "ner_fill_ft": "ner_filled",
                 "dtn_tb_pool": "ner_pooled", "ner_self_ft": "ner_self",
                 "ner_pool_self_ft": "ner_pool_self"}
#: Systems whose sources are completed, or whose unlabeled archive is labelled, by another
#: system's model-best of the same seed (its ``[paths] teacher``, ``spacy_dtn.teacher``):
#: spaCy ``ner`` trained on the target alone, the previous round of self-training, or stock
#: spaCy's transfer from the sources.
TAUGHT_BY = {"ner_filled": "ner", "dtn_filled": "ner", "ner_self": "ner",
             "ner_self2": "ner_self", "ner_pool_self": "ner_pool_ft", "dtn_self": "dtn",
             "ner_pool_prop": "ner_pool_ft", "ner_pool_prop2": "ner_pool_prop"}


def pretrained_by(name: str, config: str) -> Optional[str]:
    """The system whose model-best ``name`` trains on, or None (see :data:`PRETRAINED_BY`)."""
    if name in PRETRAINED_BY:
        return PRETRAINED_BY[name]
    if name.endswith("_ft") and reads_path(config, "pretrained"):
        return name[: -len("_ft")]
    return None
DONE_FILE = "done.json"
SCORES_FILE = "test_scores.json"


class CompareError(Exception):
    """A problem with the command's input: reported as one line, exit code 1."""


@dataclass
class Run:
    """One training: a system (its config) under one seed."""

    system: str
    config: str
    seed: int
    run_dir: Path
    #: The run whose model-best this one trains on (:func:`pretrained_by`), or None.
    pretrained: Optional[Path] = None
    #: The run whose model-best completes this one's sources (:data:`TAUGHT_BY`), or None.
    teacher: Optional[Path] = None

    @property
    def waits_for(self) -> List[Path]:
        """The runs that must finish first."""
        return [path for path in (self.pretrained, self.teacher) if path is not None]

    @property
    def label(self) -> str:
        return f"seed {self.seed} {self.system}"


def parse_systems(entries: Sequence[str]) -> Dict[str, str]:
    """``--system NAME`` (a default system) or ``--system NAME=CONFIG``; order kept.

    CONFIG may carry ``spacy train`` overrides after the path, e.g.
    ``dtn_tb_ta="configs/dtn_tb.cfg --components.dtn_transition_ner.model.label_map name"``:
    a variant without a copy of the config. The row's ``config`` records them.
    """
    systems: Dict[str, str] = {}
    for entry in entries:
        name, _, config = entry.partition("=")
        name = name.strip()
        if not config:
            if name not in KNOWN_SYSTEMS:
                raise CompareError(
                    f"unknown system {name!r}: use one of {', '.join(KNOWN_SYSTEMS)} or "
                    "NAME=CONFIG (a training config whose train reader is "
                    "spacy_dtn.TransferCorpus.v1)"
                )
            config = KNOWN_SYSTEMS[name]
        systems[name] = config
    return systems


def split_config(spec: str) -> Tuple[str, List[str]]:
    """A system's config path and its ``spacy train`` overrides (see :func:`parse_systems`)."""
    path, *overrides = shlex.split(spec)
    return path, overrides


def parse_seeds(text: str) -> List[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise CompareError(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise CompareError("--seeds: no seed given")
    return sorted(dict.fromkeys(seeds))


def reads_path(config: str, key: str) -> bool:
    """Whether a system's config takes ``--paths.KEY``."""
    from spacy.util import load_config

    path = split_config(config)[0]
    return key in load_config(path, interpolate=False).get("paths", {})


def reads_transformer(config: str) -> bool:
    """Whether a system's config takes ``--paths.transformer``."""
    return reads_path(config, "transformer")
