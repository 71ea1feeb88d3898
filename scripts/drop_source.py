"""Make a trained DTN pipeline ready to ship: drop the source task, save, write package meta.

Loads INPUT (e.g. ``training/dtn/model-best``), calls ``drop_source_task()`` on every
``dtn_ner`` (source LSTMs, tag embedding and output layer go; target predictions are
unchanged), and saves the pipeline to OUTPUT. ``--meta`` writes the ``meta.json`` for
``spacy package`` (name, version, and ``spacy_dtn`` among the requirements).

    python scripts/drop_source.py training/dtn/model-best training/dtn/model-final \
        --meta training/dtn/meta.json --name dtn_clinical --version 0.1.0
"""
from pathlib import Path
from typing import Optional

import spacy
import srsly
import typer
from wasabi import msg

import spacy_dtn

#: The public corpora of project.yml: where they come from and their licence.
CORPORA = {
    "bc5cdr": ("BC5CDR (BioCreative V CDR)", "CC BY 4.0"),
    "ncbi-disease": ("NCBI-disease", "CC BY 4.0"),
    "bc2gm": ("BC2GM (BioCreative II gene mention)", "CC BY 4.0"),
}
MTL_URL = "https://github.com/cambridgeltl/MTL-Bioinformatics-2016"


def corpus_source(corpus: str) -> dict:
    """A ``meta.json`` ``sources`` entry for a corpus folder name (unknown ones: the name)."""
    name, licence = CORPORA.get(corpus, (corpus, "see the corpus' own terms"))
    url = f"{MTL_URL}/tree/master/data" if corpus in CORPORA else ""
    return {"name": name, "url": url, "license": licence}


def describe(labels, target: Optional[str], source: Optional[str], fraction: Optional[float]):
    """One sentence on what the model finds and how it was trained."""
    what = " and ".join(labels) if labels else "entity"
    text = f"{what} NER: a Dynamic Transfer Network (spacy_dtn)"
    if target:
        share = f"{100 * fraction:g} % of " if fraction else ""
        text += f" trained on {share}{CORPORA.get(target, (target,))[0]} train"
    if source:
        text += f" with transfer from {CORPORA.get(source, (source,))[0]}"
    return text + "; the source task's parameters are dropped."


def main(
    input_path: Path = typer.Argument(..., help="Trained pipeline directory"),
    output_path: Path = typer.Argument(..., help="Where to save the pipeline without source"),
    meta_path: Optional[Path] = typer.Option(None, "--meta", help="Write meta.json here"),
    name: str = typer.Option("dtn_clinical", "--name", help="Package name (without lang_)"),
    version: str = typer.Option("0.1.0", "--version", help="Package version"),
    target: Optional[str] = typer.Option(None, "--target", help="Target corpus (folder name)"),
    source: Optional[str] = typer.Option(None, "--source", help="Source corpus (folder name)"),
    target_fraction: Optional[float] = typer.Option(
        None, "--target-fraction", help="Share of the target train sentences used"
    ),
) -> None:
    nlp = spacy.load(input_path)
    names = [
        name for name, pipe in nlp.pipeline if pipe.__class__.__name__ == "DTNEntityRecognizer"
    ]
    if not names:
        msg.fail(f"{input_path} has no dtn_ner component", exits=1)
    for pipe_name in names:
        pipe = nlp.get_pipe(pipe_name)
        before = sum(p.numel() for p in pipe.network.parameters())
        pipe.drop_source_task()
        after = sum(p.numel() for p in pipe.network.parameters())
        msg.info(f"{pipe_name}: {before:,} -> {after:,} parameters (tasks: {pipe.tasks})")
    nlp.to_disk(output_path)
    msg.good(f"Saved without source task: {output_path}")
    if meta_path is not None:
        labels = nlp.get_pipe(names[0]).labels
        meta = dict(nlp.meta)
        meta.update(
            name=name,
            version=version,
            description=describe(labels, target, source, target_fraction),
            requirements=[f"spacy_dtn>={spacy_dtn.__version__}"],
            sources=[corpus_source(c) for c in (target, source) if c],
            spacy_dtn={"target": target, "source": source, "target_fraction": target_fraction,
                       "labels": list(labels)},
        )
        srsly.write_json(meta_path, meta)
        msg.good(f"Package meta: {meta_path}")


if __name__ == "__main__":
    typer.run(main)
