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
    "dtn_hs.cfg": {"model.sharing"},  # gate g1 only
    "ttn.cfg": {"model.sharing"},  # a TTN code
    "baseline.cfg": {"model.sharing", "model.label_map"},  # the target alone: nothing to tie
    # The paper's network exactly.
    "dtn_paper.cfg": {"model.dropout", "model.normalize", "model.label_map"},
    # A transformer listener through v1: the paper's network, which has no normalize,
    # label_map or decoder settings, and its width given.
    "dtn_trf.cfg": {
        "model.@architectures", "model.dropout", "model.word_width", "model.tok2vec",
        "model.normalize", "model.label_map", "model.decoder",
    },
}


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
    with_dtn = {
        path.name for path in CONFIGS.glob("*.cfg")
        if "dtn_ner" in Config().from_disk(path, interpolate=False).get("components", {})
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
