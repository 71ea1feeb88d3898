"""The project's configs set the dtn_ner factory's defaults apart from what each chooses.

spaCy configs cannot include one another, so each config spells out its whole
``[components.dtn_ner]`` block; the factory's default config is the one place where the
recommended settings are chosen. Each config is filled (as ``spacy train`` fills it) and
compared with the filled factory default: it may differ in the settings it deliberately
sets (listed here, with why) and nowhere else, so a default changed in one place is changed
everywhere or fails here.
"""
from pathlib import Path

import pytest
import spacy
from thinc.api import Config

CONFIGS = Path(__file__).parents[1] / "configs"

#: What each config deliberately sets apart from the factory default (dotted keys; a key
#: names its whole subtree).
CHOICES = {
    "dtn.cfg": set(),  # the recommended settings
    "dtn_self.cfg": set(),  # dtn.cfg's network, the student of self-training
    "dtn_hs.cfg": {"model.sharing"},  # gate g1 only
    "ttn.cfg": {"model.sharing"},  # a TTN code
    "baseline.cfg": {"model.sharing", "model.label_map"},  # the target alone: nothing to tie
    # The paper's network exactly.
    "dtn_paper.cfg": {"model.dropout", "model.normalize", "model.label_map"},
    # The transformer's vectors, fixed, in place of the word embeddings; their width given.
    "dtn_trf.cfg": {"model.word_width", "model.tok2vec"},
    # dtn_trf.cfg's network, the target alone.
    "baseline_trf.cfg": {"model.word_width", "model.tok2vec", "model.sharing", "model.label_map"},
}

#: What the no-transfer configs change in their transfer twin's config (flattened keys); all
#: else is the same, so a setting changed in one is changed in the other or fails here.
TWINS = {
    ("dtn.cfg", "baseline.cfg"): {
        "components.dtn_ner.model.sharing", "components.dtn_ner.model.label_map",
        "corpora.train.source", "training.batcher.target_proportion",
        # the teacher that completes the sources' unannotated types (spacy_dtn.teacher)
        "paths.teacher", "corpora.train.teacher", "corpora.train.label_map",
    },
    # the self-training reader and its archive; the teacher labels the archive instead
    ("dtn.cfg", "dtn_self.cfg"): {
        "paths.unlabeled", "corpora.train.@readers", "corpora.train.unlabeled",
        "corpora.train.threshold", "corpora.train.gold_repeats", "corpora.train.held_out",
        "corpora.train.unlabeled_limit", "corpora.train.id_field", "corpora.train.text_field",
        "corpora.train.propagate",
    },
    ("dtn_trf.cfg", "baseline_trf.cfg"): {
        "components.dtn_ner.model.sharing", "components.dtn_ner.model.label_map",
        "corpora.train.source", "training.batcher.target_proportion",
    },
}

#: The command-line overrides ``python -m spacy_dtn compare`` and project.yml give every
#: config (spacy_dtn/tools/compare/commands.py, train_command): each config must have them all.
SHARED_OVERRIDES = (
    "paths.target", "paths.source", "paths.dev", "paths.vectors", "system.seed",
    "corpora.train.seed", "corpora.train.target_fraction", "training.max_steps",
    "training.eval_frequency", "training.patience", "corpora.dev.limit",
)


def flatten(block: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in block.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:  # a signature's tuple default is a list once written to a config
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def filled(block=None) -> dict:
    """A dtn_ner block as spaCy fills it (the factory default when ``block`` is None)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("dtn_ner", config=block or {})
    return flatten(nlp.config["components"]["dtn_ner"])


def test_every_config_with_a_dtn_ner_is_checked():
    # a sourced dtn_ner (dtn_ft.cfg) is the pipeline's it comes from: checked on its own below
    with_dtn = {
        path.name for path in CONFIGS.glob("*.cfg")
        if "factory" in Config().from_disk(path, interpolate=False).get(
            "components", {}).get("dtn_ner", {})
    }
    assert with_dtn == set(CHOICES)


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_a_config_differs_from_the_factory_default_only_where_it_chooses(name):
    block = dict(Config().from_disk(CONFIGS / name)["components"]["dtn_ner"])
    block.pop("factory")
    default, ours = filled(), filled(block)
    differing = {
        key for key in set(default) | set(ours) if default.get(key, "-") != ours.get(key, "-")
    }
    chosen = CHOICES[name]
    within = lambda key: any(key == c or key.startswith(c + ".") for c in chosen)  # noqa: E731
    assert {key for key in differing if not within(key)} == set(), "drifted from the default"
    assert {c for c in chosen if not any(within(key) and key.startswith(c) for key in differing)} \
        == set(), "a listed choice now equals the default: remove it from CHOICES"


def raw(name: str) -> dict:
    """A config as written (no interpolation), flattened to dotted keys."""
    return flatten(Config().from_disk(CONFIGS / name, interpolate=False))


@pytest.mark.parametrize("pair", sorted(TWINS))
def test_a_baseline_differs_from_its_transfer_twin_only_in_the_transfer(pair):
    transfer, baseline = (raw(name) for name in pair)
    differing = {
        key for key in set(transfer) | set(baseline)
        if transfer.get(key, "-") != baseline.get(key, "-")
    }
    assert differing == TWINS[pair]


@pytest.mark.parametrize("name", sorted(path.name for path in CONFIGS.glob("*.cfg")))
def test_every_config_takes_the_shared_command_line(name):
    config = raw(name)
    missing = [key for key in SHARED_OVERRIDES if key not in config]
    assert missing == []
    assert config["corpora.train.@readers"] in (
        "spacy_dtn.TransferCorpus.v1", "spacy_dtn.PooledCorpus.v1",
        "spacy_dtn.SelfTrainingCorpus.v1")


def test_the_stock_pool_anchors_are_spacy_ner_with_only_the_data_changed():
    """ner_pooled reads the label-mapped pool; ner_pool_ft trains ner_pooled's components on."""
    ner, pooled, fine_tuned = (raw(n) for n in ("ner_efficiency.cfg", "ner_pooled.cfg",
                                                 "ner_pool_ft.cfg"))
    differing = {key for key in set(ner) | set(pooled) if ner.get(key, "-") != pooled.get(key, "-")}
    assert differing == {"corpora.train.@readers", "corpora.train.source",
                         "corpora.train.label_map", "corpora.train.teacher", "paths.teacher"}
    differing = {key for key in set(ner) | set(fine_tuned)
                 if ner.get(key, "-") != fine_tuned.get(key, "-")}
    assert {key for key in differing if not key.startswith("components.")} == {
        "paths.pretrained"}
    assert fine_tuned["components.ner.source"] == "${paths.pretrained}"
    assert fine_tuned["components.tok2vec.source"] == "${paths.pretrained}"


#: Where each transformer config names its model: spaCy's ner reads a `transformer`
#: component; the DTN's configs hold the transformer inside their frozen tok2vec.
TRANSFORMER_NAME = {
    "ner_trf.cfg": "components.transformer.model",
    "dtn_trf.cfg": "components.dtn_ner.model.tok2vec.tok2vec",
    "baseline_trf.cfg": "components.dtn_ner.model.tok2vec.tok2vec",
}


@pytest.mark.parametrize("name", sorted(path.name for path in CONFIGS.glob("*_trf.cfg")))
def test_a_transformer_config_reads_its_model_from_paths_transformer(name):
    config = raw(name)
    model = TRANSFORMER_NAME[name]
    assert config[f"{model}.name"] == "${paths.transformer}"
    assert config["paths.transformer"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert config[f"{model}.@architectures"] in {
        "spacy-transformers.TransformerModel.v3", "spacy_dtn.TransformerLayers.v1",
    }


def test_the_dtn_fine_tuning_stage_is_dtn_cfg_on_the_target_alone():
    """dtn_ft.cfg sources dtn_ner from a trained pipeline and reads no source."""
    dtn, fine_tuned = raw("dtn.cfg"), raw("dtn_ft.cfg")
    differing = {key for key in set(dtn) | set(fine_tuned)
                 if dtn.get(key, "-") != fine_tuned.get(key, "-")}
    assert {key for key in differing if not key.startswith("components.")} == {
        "paths.pretrained", "corpora.train.source", "training.batcher.target_proportion",
        "paths.teacher", "corpora.train.teacher", "corpora.train.label_map"}
    assert fine_tuned["components.dtn_ner.source"] == "${paths.pretrained}"
    assert fine_tuned["corpora.train.source"] is None
