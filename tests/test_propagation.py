"""Label propagation over an archive (spacy_dtn.propagation), by hand (the reader's use of
it, on real slices, is in test_self_training.py)."""
import pytest
from spacy.tokens import Doc
from spacy.vocab import Vocab

from spacy_dtn.propagation import abbreviations, lexicon, propagate

VOCAB = Vocab()


def doc(text):
    return Doc(VOCAB, words=text.split())


# the gold: "end stage renal disease ( ESRD ) after cocaine ." with two entities
GOLD = (doc("end stage renal disease ( ESRD ) after cocaine ."),
        [(0, 4, "Disease"), (8, 9, "Chemical")])


def test_an_abbreviation_beside_an_entity_takes_its_label():
    docs = [GOLD[0], doc("low NaCl ( Na ) and acute renal failure ( ARF ) and ( x ) ( esrd )")]
    entities = [GOLD[1], [(1, 2, "Chemical"), (6, 9, "Disease")]]
    # "Na": too short is fine for an abbreviation (2 characters); "x" and "esrd" follow no
    # entity or have no capital
    assert abbreviations(docs, entities) == {"ESRD": "Disease", "Na": "Chemical",
                                             "ARF": "Disease"}
    # an abbreviation already inside an entity is not one
    assert abbreviations([GOLD[0]], [[(0, 7, "Disease")]]) == {}


def test_the_lexicon_keeps_strings_labelled_in_at_least_half_their_places():
    docs = [GOLD[0], doc("cocaine and water"), doc("water water Na"), doc("Cocaine , Na")]
    entities = [GOLD[1], [], [(0, 1, "Chemical"), (2, 3, "Chemical")], [(0, 1, "Chemical")]]
    # cocaine: labelled 2 of its 3 places (0.67); water 1 of 3 (0.33); "na" under 3 characters;
    # "end stage renal disease" 1 of 1
    assert lexicon(docs, entities) == {("cocaine",): "Chemical",
                                       ("end", "stage", "renal", "disease"): "Disease"}
    assert lexicon(docs, entities, min_share=0.3)[("water",)] == "Chemical"


def test_propagation_adds_only_over_o_tokens_and_leaves_the_known_docs_alone():
    archive = [doc("ESRD after cocaine"), doc("acute renal disease ( ESRD )"),
               doc("stage renal disease in ESRD"), doc("renal disease")]
    teacher = [[], [(0, 2, "Disease")], [(1, 3, "Disease")], [(0, 2, "Disease")]]
    result = propagate(archive, teacher, known=[GOLD])
    # ESRD: defined beside the gold's disease; cocaine: labelled in 1 of its 2 places
    assert result[0] == [(0, 1, "Disease"), (2, 3, "Chemical")]
    # "renal disease" is in the lexicon (labelled in 2 of its 4 places) but would cross the
    # teacher's "acute renal": not added there; ESRD is
    assert result[1] == [(0, 2, "Disease"), (4, 5, "Disease")]
    assert result[2] == [(1, 3, "Disease"), (4, 5, "Disease")]
    assert result[3] == [(0, 2, "Disease")]
    assert len(result) == len(archive)  # nothing for the known (gold) doc
    # nothing known, nothing labelled: nothing added
    assert propagate(archive, [[], [], [], []]) == [[], [], [], []]


def load_silver_quality():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "silver_quality.py"
    spec = importlib.util.spec_from_file_location("silver_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_silver_s_entity_scores_by_hand():
    entity_prf = load_silver_quality().entity_prf
    predicted = [[(0, 1, "Chemical"), (2, 4, "Disease")], [(1, 2, "Disease")]]
    true = [[(0, 1, "Chemical"), (2, 3, "Disease")], [(1, 2, "Disease"), (3, 4, "Chemical")]]
    # 2 of 3 predicted are right; 2 of 4 true are found: F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2)
    assert entity_prf(predicted, true) == pytest.approx((2 / 3, 1 / 2, 4 / 7))
    assert entity_prf([[]], [[]]) == (0.0, 0.0, 0.0)
