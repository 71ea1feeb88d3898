"""``spacy_dtn.ConsoleLogger.v1``: spaCy's console table with one loss column per task.

``dtn_ner`` reports its loss under ``losses["dtn_ner"]`` (what spaCy's own console logger
shows) and, per task, under ``losses["dtn_ner:target"]``, ``losses["dtn_ner:source"]``, ...
spaCy's ``ConsoleLogger.v3`` prints only the first. This logger prints the same table (same
helpers: ``setup_table``, wasabi rows) with a loss column per task after each pipe's total,
and its JSONL ``output_file`` keeps every loss key, the per-task ones included. Like spaCy's,
it is called at every evaluation with the losses summed since the previous one.

Registered through the ``spacy_loggers`` entry point, so a config finds it without an import.
"""
import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import srsly
from spacy.training.loggers import setup_table
from spacy.util import ensure_path
from wasabi import Printer


def _task_columns(nlp, pipe_name: str) -> List[str]:
    """The loss keys of ``pipe_name``'s tasks known at setup (``dtn_ner:target`` ...)."""
    pipe = nlp.get_pipe(pipe_name)
    tasks = getattr(pipe, "tasks", None) or []
    return [f"{pipe_name}:{task}" for task in tasks]


PROGRESS_BARS = ("train", "eval")


def console_logger(
    progress_bar: Union[bool, str, None] = False,
    console_output: bool = True,
    output_file: Optional[Union[str, Path]] = None,
):
    """The table of spaCy's console logger, plus a loss column per task of each DTN pipe.

    progress_bar: a tqdm bar on stderr, as spaCy's ``ConsoleLogger.v3``: "eval" (or true)
        counts the steps to the next evaluation, "train" the steps to ``max_steps``;
        false or null: none.
    console_output: print the table.
    output_file: a JSONL file, one line per evaluation with epoch, step, every loss key
        (per-task keys included), the scores and the score. As spaCy's logger, an existing
        file is not overwritten: logging to it is disabled, with a warning.
    """
    if progress_bar is True:
        progress_bar = "eval"
    if progress_bar not in (False, None) + PROGRESS_BARS:
        raise ValueError(
            f"progress_bar must be one of {', '.join(PROGRESS_BARS)}, true, false or null; "
            f"got {progress_bar!r}"
        )
    output_path = ensure_path(output_file) if output_file else None

    def setup_printer(
        nlp, stdout: IO = sys.stdout, stderr: IO = sys.stderr
    ) -> Tuple[Callable[[Optional[Dict[str, Any]]], None], Callable[[], None]]:
        write = lambda text: print(text, file=stdout, flush=True)  # noqa: E731
        msg = Printer(no_print=True)
        stream = None
        if output_path is not None and output_path.exists():
            write(msg.warn(f"Saving logs is disabled because {output_path} already exists."))
        elif output_path is not None:
            output_path.parent.mkdir(parents=True, exist_ok=True)
            stream = output_path.open("w", encoding="utf-8")
            write(msg.info(f"Saving training log (per-task losses included) to {output_path}"))
        pipes = [
            name for name, proc in nlp.pipeline if getattr(proc, "is_trainable", False)
        ]
        loss_keys: List[str] = []
        for name in pipes:
            loss_keys.append(name)
            loss_keys.extend(_task_columns(nlp, name))
        # Column titles: "Loss dtn_ner", then "Loss target", "Loss source" (spaCy cuts at 13).
        titles = [f"Loss {key.split(':', 1)[-1]}" for key in loss_keys]
        score_weights = nlp.config["training"]["score_weights"]
        score_cols = [col for col, value in score_weights.items() if value is not None]
        header, widths, aligns = setup_table(
            cols=["E", "#"] + titles + score_cols + ["Score"],
            widths=[3, 6] + [8] * len(loss_keys) + [6] * len(score_cols) + [6],
        )
        if console_output:
            write(msg.row(header, widths=widths, spacing=2))
            write(msg.row(["-" * width for width in widths], spacing=2))
        progress = None

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            nonlocal progress
            if info is None:
                if progress is not None:
                    progress.update(1)
                return
            losses = {key: float(value) for key, value in info["losses"].items()}
            scores = {}
            for col in score_cols:
                score = float(info["other_scores"].get(col, 0.0))
                scores[col] = score if col == "speed" else 100 * score
            row = (
                [info["epoch"], info["step"]]
                + [f"{losses.get(key, 0.0):.2f}" for key in loss_keys]
                + [f"{scores[col]:.2f}" for col in score_cols]
                + [f"{float(info['score']):.2f}"]
            )
            if stream is not None:
                record = {
                    "epoch": info["epoch"],
                    "step": info["step"],
                    "losses": losses,
                    "scores": scores,
                    "score": float(info["score"]),
                    "seconds": info.get("seconds"),
                    "words": info.get("words"),
                }
                stream.write(srsly.json_dumps(record) + "\n")
                stream.flush()
            if progress is not None:
                progress.close()
                progress = None
            if console_output:
                write(msg.row(row, widths=widths, aligns=aligns, spacing=2))
            if progress_bar and console_output:
                import tqdm

                training = nlp.config["training"]
                if progress_bar == "train":
                    total, initial = training["max_steps"], info["step"]
                    description = f"Last Eval Epoch: {info['epoch']}"
                else:
                    total, initial = training["eval_frequency"], 0
                    description = f"Epoch {info['epoch'] + 1}"
                progress = tqdm.tqdm(total=total, initial=initial, disable=None, leave=False,
                                     file=stderr)
                progress.set_description(description)

        def finalize() -> None:
            if progress is not None:
                progress.close()
            if stream is not None:
                stream.close()

        return log_step, finalize

    return setup_printer
