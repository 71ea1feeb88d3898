"""configs/dtn_trf.cfg: the DTN over a spacy-transformers backbone, trained, saved and reloaded.

Nothing comes from a model hub: the test builds a tiny randomly initialised BERT with
``transformers``' own classes (a WordPiece vocabulary made from the words of the data slice),
saves it to a temporary folder and points ``paths.transformer`` there. Training is spaCy's own
loop (``init_nlp`` + ``spacy.training.loop.train``, what ``spacy train`` runs) on small slices
of the real BC5CDR (target) and NCBI-disease (source) corpora, written as DocBins by the
project's converter.
"""
import os

# Before transformers / huggingface_hub are imported: their offline switches are read then.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import io
import shutil
from pathlib import Path

import numpy
import pytest

try:
    import spacy_transformers  # noqa: F401
    import transformers
except ImportError as error:  # pragma: no cover - depends on the installed extras
    pytest.skip(
        f"spacy-transformers is not installed ({error}); install the extra: "
        'pip install -e ".[test,transformers]"',
        allow_module_level=True,
    )

import spacy
import torch
from spacy import util
from spacy.tokens import DocBin
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_nlp

from dtn_helpers import corpus_path
from spacy_dtn.convert.iob import convert_iob

CONFIG = Path(__file__).parents[1] / "configs" / "dtn_trf.cfg"
WIDTH = 32  # hidden size of the tiny transformer
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_docbin(path: Path, corpus: str, split: str, n: int):
    """The first ``n`` sentences of a real IOB table, converted by the project's converter."""
    lines = []
    with corpus_path(corpus, f"{split}.tsv").open(encoding="utf8") as table:
        for line in table:
            lines.append(line)
            n -= not line.strip() and len(lines) > 1 and bool(lines[-2].strip())
            if n == 0:
                break
    head = path.with_suffix(".tsv")
    head.write_text("".join(lines), encoding="utf8")
    docs, _ = convert_iob(head, vocab=spacy.blank("en").vocab)
    docs = list(docs)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return docs


def build_tiny_transformer(folder: Path, docs) -> Path:
    """A 4-layer, 32-wide BERT and a fast WordPiece tokenizer for the words of ``docs``.

    Every lower-cased word of the slice is a whole piece; single characters and their
    ``##`` continuations cover anything else, so no token maps to [UNK].
    """
    words = sorted({token.lower_ for doc in docs for token in doc if not token.is_space})
    chars = sorted({char for word in words for char in word})
    pieces = SPECIAL + chars + [f"##{char}" for char in chars]
    pieces += [word for word in words if word not in set(pieces)]
    folder.mkdir(parents=True)
    vocab_file = folder.parent / "vocab.txt"
    vocab_file.write_text("\n".join(pieces) + "\n", encoding="utf8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(pieces),
        hidden_size=WIDTH,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def transformer_module(nlp) -> torch.nn.Module:
    """The Hugging Face model inside ``dtn_ner``'s frozen tok2vec."""
    from spacy_transformers.layers.hf_shim import HFShim

    model = nlp.get_pipe("dtn_ner").model
    return next(s for node in model.walk() for s in node.shims if isinstance(s, HFShim))._model


def predictions(nlp, texts):
    """Entities (start, end, label) and gate values of each text, as the pipeline gives them."""
    ents, gates = [], []
    for doc in nlp.pipe(texts, batch_size=8):
        ents.append([(ent.start, ent.end, ent.label_) for ent in doc.ents])
        gates.append(doc._.dtn_gates)
    return ents, gates


@pytest.mark.slow
def test_transformer_config_trains_saves_and_reloads(tmp_path):
    target = write_docbin(tmp_path / "target.spacy", "bc5cdr", "train", 24)
    source = write_docbin(tmp_path / "source.spacy", "ncbi-disease", "train", 24)
    dev = write_docbin(tmp_path / "dev.spacy", "bc5cdr", "devel", 12)
    model_dir = build_tiny_transformer(tmp_path / "tiny-bert", target + source + dev)

    overrides = {
        "paths.target": str(tmp_path / "target.spacy"),
        "paths.source": str(tmp_path / "source.spacy"),
        "paths.dev": str(tmp_path / "dev.spacy"),
        "paths.transformer": str(model_dir),
        "vars.transformer_width": WIDTH,
        "components.dtn_ner.store_gates": True,
        # Small LSTMs: the test is about the plumbing, not the paper's sizes.
        "components.dtn_ner.model.char_embed": 8,
        "components.dtn_ner.model.char_hidden": 8,
        "components.dtn_ner.model.word_hidden": 16,
        "components.dtn_ner.model.decoder_hidden": 16,
        "components.dtn_ner.model.tag_embed": 8,
        "training.max_steps": 8,
        "training.eval_frequency": 8,
        "training.batcher.size": 300,
    }
    config = util.load_config(CONFIG, overrides=overrides, interpolate=False)
    nlp = init_nlp(config, use_gpu=-1)
    assert nlp.pipe_names == ["dtn_ner"]
    assert nlp.get_pipe("dtn_ner").label_data == {
        "target": ["Chemical", "Disease"],
        "source": ["Disease"],
    }
    network = nlp.get_pipe("dtn_ner").network
    assert network.config.word_width == WIDTH
    before_training = {k: v.clone() for k, v in network.state_dict().items()}
    trf_state = {k: v.clone() for k, v in transformer_module(nlp).state_dict().items()}
    log = io.StringIO()
    (tmp_path / "out").mkdir()
    nlp, _ = train_nlp(nlp, tmp_path / "out", use_gpu=-1, stdout=log, stderr=log)

    # Both tasks trained the DTN; the transformer stayed as loaded (frozen).
    changed = [k for k, v in network.state_dict().items() if not torch.equal(v, before_training[k])]
    assert any(k.startswith("decoder.output.target") for k in changed), log.getvalue()
    # (The source's Disease tags share the target's output rows: label_map "name".)
    assert any(".source" in k for k in changed), log.getvalue()
    hf_state = transformer_module(nlp).state_dict()
    assert all(torch.equal(hf_state[k], v) for k, v in trf_state.items())
    # Every train and dev sentence went through the transformer once and is remembered.
    cache = nlp.get_pipe("dtn_ner").model.get_ref("tok2vec").attrs["cache"]
    assert len(cache.vectors) == len({doc.text for doc in target + source + dev})

    # A few steps on 24 sentences over a random transformer still tag every token O. So the
    # comparison below is not vacuous, every word is made a Chemical: an S-Chemical output
    # far above the rest (saved with the pipeline, so the reloaded one must agree).
    with torch.no_grad():
        s_chemical = network.tagsets["target"].index["S-Chemical"]
        network.decoder.output["target"].bias[s_chemical] += 100.0
    nlp.to_disk(tmp_path / "out" / "model-last")
    texts = [doc.text for doc in dev + target[:12]]
    ents, gates = predictions(nlp, texts)
    assert all(g is not None and "word_g1" in g for g in gates)
    assert sum(map(len, ents)) == sum(len(doc) for doc in dev + target[:12])

    # The saved pipeline holds the transformer: it loads without the original folder.
    shutil.rmtree(model_dir)
    reloaded = spacy.load(tmp_path / "out" / "model-last")
    assert reloaded.pipe_names == ["dtn_ner"]
    ents_after, gates_after = predictions(reloaded, texts)
    assert ents_after == ents
    for g_before, g_after in zip(gates, gates_after):
        for name in g_before:
            numpy.testing.assert_allclose(g_after[name], g_before[name], rtol=1e-5, atol=1e-6)


def test_transformer_layers_average_the_chosen_hidden_states(tmp_path):
    """spacy_dtn.TransformerLayers.v1: index 0 is the embeddings, -1 (= 4 here) the last
    layer, as spacy-transformers' own Tok2VecTransformer gives it; several layers average
    (pooling and alignment are linear, so the mean of single-layer outputs is the answer)."""
    from spacy_transformers.architectures import transformer_tok2vec_v3
    from spacy_transformers.span_getters import configure_strided_spans
    from thinc.api import reduce_mean

    from spacy_dtn.layers.transformer_layers import build_transformer_layers

    docs = write_docbin(tmp_path / "target.spacy", "bc5cdr", "train", 6)
    folder = str(build_tiny_transformer(tmp_path / "tiny-bert", docs))
    spans = configure_strided_spans(128, 96)

    def vectors(layers):
        model = build_transformer_layers(folder, spans, {"use_fast": True}, reduce_mean(),
                                         layers)
        model.initialize(X=docs)
        return numpy.concatenate(model.predict(docs))

    single = {i: vectors([i]) for i in range(5)}
    plain = transformer_tok2vec_v3(folder, spans, {"use_fast": True}, reduce_mean())
    plain.initialize(X=docs)
    numpy.testing.assert_allclose(single[4], numpy.concatenate(plain.predict(docs)), atol=1e-6)
    numpy.testing.assert_allclose(vectors([-1]), single[4], atol=1e-6)
    assert not numpy.allclose(single[0], single[4], atol=1e-2)
    numpy.testing.assert_allclose(vectors([0, 2]), (single[0] + single[2]) / 2, atol=1e-5)
    numpy.testing.assert_allclose(vectors([-4, -3, -2, -1]),
                                  sum(single[i] for i in (1, 2, 3, 4)) / 4, atol=1e-5)
