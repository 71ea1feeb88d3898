"""``spacy_dtn.TransformerLayers.v1``: a transformer's token vectors as the mean of some layers.

Why: a fixed transformer's last layer is what its own pre-training shaped most (for
sentence-transformers' all-MiniLM-L6-v2, a sentence embedding); the middle layers hold more
of the word-level information a tagger needs. Feature-based use of BERT (Devlin et al. 2019,
CoNLL-2003) did best with a mix of the top layers. For use under ``FrozenFeatures``: it
passes no gradient back. Needs the ``transformers`` extra (spacy-transformers).
"""
from typing import List, Sequence

from thinc.api import Model, chain
from thinc.types import Floats2d


def build_transformer_layers(
    name: str,
    get_spans,
    tokenizer_config: dict,
    pooling: Model,
    layers: Sequence[int] = (-1,),
) -> Model:
    """``spacy_dtn.TransformerLayers.v1``: one vector per spaCy token, from chosen layers.

    name (str): A Hugging Face model name or local model folder.
    get_spans (Callable): How docs are cut into the transformer's windows, as for
        ``spacy-transformers.TransformerModel.v3``. If in doubt,
        ``spacy-transformers.strided_spans.v1`` with window 128 and stride 96.
    tokenizer_config (dict): Settings for the Hugging Face tokenizer. If in doubt,
        ``{"use_fast": true}``.
    pooling (Model[Ragged, Floats2d]): How a token's word pieces become one vector. If in
        doubt, ``reduce_mean.v1``.
    layers (Sequence[int]): The hidden states averaged, by index: 0 is the embedding layer,
        1 the first transformer layer, -1 the last (alone: the plain last layer). If in
        doubt, [-1].
    """
    from spacy_transformers.layers import TransformerModel, split_trf_batch, trfs2arrays

    transformer = TransformerModel(name, get_spans, tokenizer_config,
                                   {"output_hidden_states": True})
    return chain(chain(transformer, split_trf_batch()), _mean_of_layers(list(layers)),
                 trfs2arrays(pooling, 0.0))


def _mean_of_layers(layers: List[int]) -> Model:
    return Model("mean_of_layers", _mean_forward, attrs={"layers": layers})


def _mean_forward(model: Model, trf_datas: List, is_train: bool):
    layers = model.attrs["layers"]
    for trf_data in trf_datas:
        hidden: List[Floats2d] = trf_data.model_output.get("hidden_states") or []
        if hidden:
            trf_data.model_output["last_hidden_state"] = sum(
                hidden[i] for i in layers) / len(layers)

    def backprop(d_trf_datas):
        raise ValueError("spacy_dtn.TransformerLayers.v1 is for fixed features "
                         "(spacy_dtn.FrozenFeatures.v1): it passes no gradient")

    return trf_datas, backprop
