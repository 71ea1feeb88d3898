"""Gold tag ids: the vectorised path from the reference's entity codes against spaCy's
alignment (``Example.get_aligned_ner``), on real sentences and on hand-made edge cases."""
import numpy
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_dtn.nn import TagSet

from dtn_helpers import read_examples


def slow_ids(example, tagset):
    return numpy.asarray(tagset.encode(example.get_aligned_ner()), dtype="int64")


def test_encode_iob_by_hand():
    tagset = TagSet(["Chemical", "Disease"])  # O; B/I/E/S-Chemical 1-4; B/I/E/S-Disease 5-8
    # tokens: S-Chem, O, B-Dis I-Dis E-Dis, B-Chem E-Chem (adjacent entity), missing, S-Gene
    iob = [3, 2, 3, 1, 1, 3, 1, 0, 3]
    labels = ["Chemical", "", "Disease", "Disease", "Disease", "Chemical", "Chemical", "", "Gene"]
    assert tagset.encode_iob(numpy.array(iob), labels).tolist() == [4, 0, 5, 6, 7, 1, 3, -1, -1]


def test_gold_ids_equal_spacys_alignment_on_real_sentences():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("dtn_ner")
    for corpus, labels in (("bc5cdr", ["Chemical", "Disease"]), ("ncbi-disease", ["Disease"])):
        tagset = TagSet(labels)
        examples = read_examples(nlp, corpus, "train", 400)
        assert sum(len(eg.reference.ents) for eg in examples) > 300
        same = [eg for eg in examples if len(eg.predicted) == len(eg.reference)]
        assert 0 < len(same) < len(examples)  # both paths taken: spaCy splits some tokens
        for eg in examples:
            assert pipe._gold_tag_ids(eg, tagset).tolist() == slow_ids(eg, tagset).tolist()


def test_partial_annotation_and_other_tokenisations_give_spacys_ids():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("dtn_ner")
    tagset = TagSet(["Disease"])
    words = ["Severe", "renal", "failure", "after", "cisplatin", "."]
    reference = Doc(nlp.vocab, words=words)
    reference.set_ents([Span(reference, 1, 3, "Disease")], missing=[reference[4:5]],
                       default="outside")
    same = Example(Doc(nlp.vocab, words=words), reference)
    assert pipe._gold_tag_ids(same, tagset).tolist() == [0, 1, 3, 0, -1, 0]
    assert pipe._gold_tag_ids(same, tagset).tolist() == slow_ids(same, tagset).tolist()
    # "renal failure" as one predicted token: spaCy's alignment decides
    other = Example(Doc(nlp.vocab, words=["Severe", "renal failure", "after", "cisplatin", "."],
                        spaces=[True, True, True, False, False]), reference)
    assert pipe._gold_tag_ids(other, tagset).tolist() == slow_ids(other, tagset).tolist()
