"""The plugin core imports nothing from the experiment tools or the command line.

A pipeline with ``dtn_ner`` loads the core through spaCy's entry points: it must not pay for
(or break with) the commands, their optional dependencies or their helpers. The modules are
imported in a fresh interpreter, where nothing else has imported the tools already.
"""
import json
import subprocess
import sys

CORE = [
    "spacy_dtn",
    "spacy_dtn.nn",
    "spacy_dtn.architectures",
    "spacy_dtn.component",
    "spacy_dtn.transition_component",
    "spacy_dtn.layers.gated_encoder",
    "spacy_dtn.layers.transition_model",
    "spacy_dtn.training",
    "spacy_dtn.tasks",
    "spacy_dtn.loggers",
]
TOOLS = ["cli", "compare", "grid", "gates", "benchmark", "annotate", "visualize", "evaluate"]


def test_the_core_imports_no_tool_and_no_command():
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(CORE)], capture_output=True,
                          text=True, check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert set(CORE) <= set(loaded)
    tools = [f"spacy_dtn.{name}" for name in TOOLS]
    assert [m for m in loaded if m in tools or m.startswith("spacy_dtn.cli.")] == []
