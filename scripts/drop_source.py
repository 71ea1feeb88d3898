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


def main(
    input_path: Path = typer.Argument(..., help="Trained pipeline directory"),
    output_path: Path = typer.Argument(..., help="Where to save the pipeline without source"),
    meta_path: Optional[Path] = typer.Option(None, "--meta", help="Write meta.json here"),
    name: str = typer.Option("dtn_clinical", "--name", help="Package name (without lang_)"),
    version: str = typer.Option("0.1.0", "--version", help="Package version"),
) -> None:
    nlp = spacy.load(input_path)
    names = [name for name, pipe in nlp.pipeline if pipe.__class__.__name__ == "DTNEntityRecognizer"]
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
        meta = dict(nlp.meta)
        meta.update(
            name=name,
            version=version,
            description="Chemical and Disease NER: a Dynamic Transfer Network (spacy_dtn) "
            "trained with transfer from a source corpus; source parameters dropped.",
            requirements=[f"spacy_dtn>={spacy_dtn.__version__}"],
        )
        srsly.write_json(meta_path, meta)
        msg.good(f"Package meta: {meta_path}")


if __name__ == "__main__":
    typer.run(main)
