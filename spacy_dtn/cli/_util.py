"""What every command shares: the typer ``app``, ``Arg``/``Opt``, one way to fail, threads.

As in spaCy's own ``spacy/cli/_util.py``: each command module registers its ``*_cli`` function
on :data:`app` with ``@app.command(...)``, and the function only parses arguments, calls the
importable function that does the work and reports what went wrong.
"""
from typing import NoReturn

import typer
from wasabi import color, msg

NAME = "spacy_dtn"
HELP = "Dynamic Transfer Networks for low-resource NER in spaCy."

app = typer.Typer(
    name=NAME,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Typer's annotations under spaCy's names, so that signatures read like spaCy's commands.
Arg = typer.Argument
Opt = typer.Option


def fail(text: str) -> NoReturn:
    """Print ``text`` as one ``✘`` line and exit with code 1.

    Not ``msg.fail``: wasabi wraps at 80 columns and splits long paths, but an error
    (``file:line: message``) should stay one line that editors and tools can parse.
    """
    line = f"{msg.icons['fail']} {text}"
    print(color(line, fg=msg.colors["red"]) if msg.show_color else line)
    raise typer.Exit(1)


def set_torch_threads(n: int) -> None:
    """Give PyTorch ``n`` CPU threads (0: leave its default).

    The DTN's LSTMs are small and sequential: on a shared machine more threads than one made
    updates and inference slower, not faster, so the commands default to one.
    """
    if n > 0:
        import torch

        torch.set_num_threads(n)
