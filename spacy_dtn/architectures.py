"""The registered Thinc architectures, and nothing else (as spacy-transformers' own).

``spacy_dtn.DTNTagger.v1``/``v2`` (the tagger, :mod:`spacy_dtn.layers.tagger`),
``spacy_dtn.WordEmbed.v1`` (its default word embedding) and
``spacy_dtn.DTNTransitionModel.v1`` (``dtn_transition_ner``'s model,
:mod:`spacy_dtn.layers.transition_model`). Each builder checks its settings and documents
them; the layers they assemble live in :mod:`spacy_dtn.layers`.
"""
from typing import Dict, List, Optional, Sequence, Union

from spacy.ml.models import MultiHashEmbed
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .label_maps import LabelMap
from .layers.static_vectors import make_vectors_optional
from .layers.tagger import DTNInput, DTNOutput, build_tagger
from .layers.transition_model import build_transition_models
from .nn import DECODERS, NetworkConfig, parse_sharing
from .nn.network import UNANNOTATED


def build_word_embed(
    width: int = 100,
    attrs: Sequence[str] = ("NORM", "PREFIX", "SUFFIX", "SHAPE"),
    rows: Sequence[int] = (5000, 1000, 2500, 2500),
    include_static_vectors: bool = True,
) -> Model[List[Doc], List[Floats2d]]:
    """``spacy_dtn.WordEmbed.v1``: ``emb_word``, spaCy's hash embedding, mixed with the
    vocab's static vectors.

    A context-free embedding, as in the paper (the BiLSTM does the contextualising). With
    ``include_static_vectors`` the vocab's vectors (GloVe through ``spacy init vectors``) are
    projected in; a vocab without vectors contributes zeros, so one config serves both. The
    table is kept and saved with the weights (:mod:`spacy_dtn.layers.static_vectors`), so
    the component reads the vectors it was trained with in any pipeline it is added to.

    width (int): The output width, the word vectors' size. If in doubt, 100 (the paper's).
    attrs (Sequence[str]): The token attributes hashed into embedding tables, one table
        each (as spaCy's ``MultiHashEmbed``). If in doubt, NORM, PREFIX, SUFFIX and SHAPE.
    rows (Sequence[int]): The rows of each attribute's table; hashing lets them be few.
        If in doubt, 5000, 1000, 2500, 2500.
    include_static_vectors (bool): Project the vocab's static vectors in when it has some
        (zeros when it has none). If in doubt, true.
    """
    embed = MultiHashEmbed(
        width=width, attrs=list(attrs), rows=list(rows),
        include_static_vectors=include_static_vectors,
    )
    embed.set_dim("nO", width)  # the tagger sizes its word encoder from it
    if include_static_vectors:
        make_vectors_optional(embed, width)
    return embed


#: The paper's sizes and rates ("Model Settings"): the defaults of both tagger versions.
_PAPER = NetworkConfig()
#: Characters kept of a word (first and last halves of a longer one).
MAX_WORD_CHARS = 32


def build_dtn_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    sharing: str = _PAPER.sharing,
    char_embed: int = _PAPER.char_embed,
    char_hidden: int = _PAPER.char_hidden,
    word_hidden: int = _PAPER.word_hidden,
    decoder_hidden: int = _PAPER.decoder_hidden,
    tag_embed: int = _PAPER.tag_embed,
    dropout: float = _PAPER.dropout,
    share_lambda: float = _PAPER.share_lambda,
    n_char_buckets: int = _PAPER.n_char_buckets,
    max_word_chars: int = MAX_WORD_CHARS,
    mixed_precision: bool = False,
    word_width: Optional[int] = None,
    normalize: bool = True,
    label_map: LabelMap = "name",
    decoder: str = _PAPER.decoder,
    unannotated: str = _PAPER.unannotated,
    shared_gate_bias: float = _PAPER.shared_gate_bias,
) -> Model[DTNInput, DTNOutput]:
    """``spacy_dtn.DTNTagger.v2``: the DTN tagger. Its PyTorch network is built when the
    model is initialised with its tasks (:class:`DTNTasks`, from the component).

    ``v2`` adds ``normalize``, ``label_map`` and ``decoder`` to ``v1`` (the paper's network,
    which is what pipelines saved by 0.1.0 name and compute: :func:`build_dtn_tagger_v1`).
    The defaults are the paper's sizes and rates (:class:`spacy_dtn.nn.NetworkConfig`) and
    ``v2``'s own switches; the ``dtn_ner`` factory's default config, the recommended
    settings, changes only ``dropout``, and the project's configs are checked against it
    (``tests/test_configs.py``).

    tok2vec (Model[List[Doc], List[Floats2d]]): The word embeddings ``emb_word``, shared by
        all tasks. If in doubt, ``spacy_dtn.WordEmbed.v1``; a listener needs ``word_width``.
    sharing (str): How the tasks share the three components: ``dtn`` (hard and soft sharing
        mixed by two gates), ``dtn_hs`` (hard and soft, gate g1 only), ``baseline`` (the
        target alone), a TTN code (``HIS``: char encoder, word encoder, decoder each
        I(ndependent), H(ard) or S(oft) shared), ``T-B`` or ``T-C``. If in doubt, ``dtn``.
    char_embed (int): The size of the character embeddings. If in doubt, 25.
    char_hidden (int): The character BiLSTM's units per direction. If in doubt, 50.
    word_hidden (int): The word BiLSTM's units per direction. If in doubt, 100.
    decoder_hidden (int): The decoder LSTM's units. If in doubt, 50.
    tag_embed (int): The size of the previous-tag embedding the ``lstm`` decoder reads
        (unused by ``crf``). If in doubt, 50.
    dropout (float): Dropout after every LSTM and on the word embeddings, in PyTorch
        (spaCy's ``training.dropout`` reaches only the tok2vec's own layers). The default is
        the paper's 0.5. If in doubt, 0.4 (chosen on BC5CDR dev, with ``normalize``).
    share_lambda (float): λ of the soft-sharing penalty ``λ·‖θ_target − θ_source‖²``.
        If in doubt, 0.001 (near the cross-entropy at initialisation for these sizes).
    n_char_buckets (int): Characters are hashed into this many embedding rows.
        If in doubt, 2048.
    max_word_chars (int): A longer word keeps its first and last halves. If in doubt, 32.
    mixed_precision (bool): Autocast and a gradient scaler around the network, on a CUDA
        GPU only (training on the CPU is refused). If in doubt, false.
    word_width (Optional[int]): The width of the tok2vec's output; null: its ``nO``. Set it
        for a tok2vec that learns its width only from data, e.g. a ``TransformerListener``
        (the transformer's hidden size). If in doubt, null.
    normalize (bool): Scale each component's output to zero mean, unit variance per token
        (no parameters); without it stacked fresh LSTMs train on a long all-``O`` plateau.
        If in doubt, true.
    label_map (Union[None, str, Dict[str, Any]]): Label-mapped output sharing (Yang et
        al.'s T-A): ``"name"`` ties a source label to the target label of the same name, a
        table ``{source label: target label}`` ties the pairs given for every source, a table
        per source task ``{source task: {source label: target label}}`` ties each source's
        own pairs (a source it does not name keeps its outputs), null ties nothing. A tied
        label has one tag embedding and output row for both tasks; a pair naming a task or
        label that no corpus has is an error. If in doubt, ``"name"``.
    decoder (str): ``"lstm"``, the paper's decoder (the previous tag fed back, greedy
        decoding), or ``"crf"``: the decoder LSTM reads the word encoder's output only and
        a linear-chain CRF per task scores whole tag sequences (Viterbi decoding;
        ``tag_embed`` unused). Level with ``"lstm"`` on BC5CDR dev and faster on small
        batches. If in doubt, ``"lstm"``.
    unannotated (str): What a token outside a tied source's entities says about the
        target's labels: ``"O"``, that it is none of them; ``"unknown"``, nothing about the
        labels the source does not annotate (NCBI-disease's chemicals: the loss there is
        -log P(O or any tag of those labels), partial annotation); ``"any"``, nothing about
        any target label, tied ones included (the source teaches where its entities are,
        never that a token is not one). ``lstm`` decoder only. If in doubt, ``"O"``.
    shared_gate_bias (float): The initial bias of each component's gate g2 (``dtn``), which
        mixes the target's independent path (1 - g2) with the shared one (g2): 0 starts
        even (the paper), a negative value starts the target on its own path, as without
        transfer. If in doubt, 0.
    """
    config = NetworkConfig(
        sharing=sharing, char_embed=char_embed, char_hidden=char_hidden,
        word_hidden=word_hidden, decoder_hidden=decoder_hidden, tag_embed=tag_embed,
        dropout=dropout, share_lambda=share_lambda, n_char_buckets=n_char_buckets,
        normalize=normalize, label_map=label_map, decoder=decoder, unannotated=unannotated,
        shared_gate_bias=shared_gate_bias,
    )
    parse_sharing(sharing)  # fail early, at config time, on an unknown sharing setting
    if decoder not in DECODERS:
        raise ValueError(f"dtn_ner: unknown decoder {decoder!r}; choose one of {DECODERS}.")
    if unannotated not in UNANNOTATED:
        raise ValueError(
            f"dtn_ner: unannotated must be one of {UNANNOTATED}, got {unannotated!r}."
        )
    if unannotated != "O" and decoder != "lstm":
        raise ValueError(f"dtn_ner: unannotated = {unannotated!r} needs decoder = \"lstm\".")
    return build_tagger(tok2vec, config, max_word_chars=max_word_chars,
                        mixed_precision=mixed_precision, word_width=word_width)


def build_dtn_tagger_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    sharing: str = _PAPER.sharing,
    char_embed: int = _PAPER.char_embed,
    char_hidden: int = _PAPER.char_hidden,
    word_hidden: int = _PAPER.word_hidden,
    decoder_hidden: int = _PAPER.decoder_hidden,
    tag_embed: int = _PAPER.tag_embed,
    dropout: float = _PAPER.dropout,
    share_lambda: float = _PAPER.share_lambda,
    n_char_buckets: int = _PAPER.n_char_buckets,
    max_word_chars: int = MAX_WORD_CHARS,
    mixed_precision: bool = False,
    word_width: Optional[int] = None,
) -> Model[DTNInput, DTNOutput]:
    """``spacy_dtn.DTNTagger.v1``: the paper's network exactly, as saved by 0.1.0.

    ``v2`` (:func:`build_dtn_tagger`) with ``normalize = false``, no ``label_map`` and the
    ``lstm`` decoder; kept so that pipelines trained before ``v2`` load and predict as they
    did.

    tok2vec, sharing, char_embed, char_hidden, word_hidden, decoder_hidden, tag_embed,
    dropout, share_lambda, n_char_buckets, max_word_chars, mixed_precision, word_width:
        as for ``spacy_dtn.DTNTagger.v2``, defaults included.
    """
    return build_dtn_tagger(
        tok2vec, sharing=sharing, char_embed=char_embed, char_hidden=char_hidden,
        word_hidden=word_hidden, decoder_hidden=decoder_hidden, tag_embed=tag_embed,
        dropout=dropout, share_lambda=share_lambda, n_char_buckets=n_char_buckets,
        max_word_chars=max_word_chars, mixed_precision=mixed_precision, word_width=word_width,
        normalize=False, label_map=None,
    )


def build_dtn_transition_model(
    embed: Model[List[Doc], List[Floats2d]],
    encode: Model[List[Floats2d], List[Floats2d]],
    sharing: str = "dtn",
    share_lambda: float = 0.001,
    hidden_width: int = 64,
    maxout_pieces: int = 2,
    source: str = "source",
    label_map: Union[None, str, Dict[str, str]] = None,
) -> Model:
    """``spacy_dtn.DTNTransitionModel.v1``: spaCy's ``ner`` model per task, DTN-shared.

    The model of ``dtn_transition_ner`` (:mod:`spacy_dtn.layers.gated_encoder`).

    embed (Model[List[Doc], List[Floats2d]]): The token embedding, shared by every task.
        If in doubt, spaCy's ``spacy.MultiHashEmbed.v2``.
    encode (Model[List[Floats2d], List[Floats2d]]): The context encoder; its copies are the
        hard (shared), soft (one per task) and independent (target) paths. If in doubt,
        ``spacy.MaxoutWindowEncoder.v2``.
    sharing (str): ``dtn`` (both gates), ``dtn_hs`` (hard and soft, gate g1 only) or
        ``baseline`` (the target alone: spaCy's ``ner`` with an inline tok2vec). If in
        doubt, ``dtn``.
    share_lambda (float): λ of the soft-sharing penalty ``λ·‖θ_target − θ_source‖²``.
        If in doubt, 0.001.
    hidden_width (int): The hidden width of each task's transition-based output layer
        (``spacy.TransitionBasedParser.v2``). If in doubt, 64.
    maxout_pieces (int): The maxout pieces of that layer. If in doubt, 2.
    source (str): The name of the source task (``spacy_dtn.TransferCorpus.v1``'s
        ``source_name``). If in doubt, ``source``.
    label_map (Union[None, str, Dict[str, str]]): Label-mapped output sharing (Yang et al.'s
        T-A) for the output layers: "name" makes the source's action for a label and the
        target's action for the label of the same name one row of weights (``O`` too); a
        table ``{source label: target label}`` maps explicitly; null ties nothing. If in
        doubt, null (the default).
    """
    return build_transition_models(
        embed, encode, sharing=sharing, share_lambda=share_lambda,
        hidden_width=hidden_width, maxout_pieces=maxout_pieces, source=source,
        label_map=label_map,
    )
