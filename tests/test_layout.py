"""The package's layout: the plugin core at the top of ``spacy_dtn``, the tools beside it.

One rule: the core imports nothing from the tools (``spacy_dtn.tools``) or the command line
(``spacy_dtn.cli``). A pipeline with ``dtn_ner`` loads the core through spaCy's entry points:
it must not pay for (or break with) the commands, their optional dependencies or their
helpers. ``spacy_dtn.nn`` is pure PyTorch: importing it loads neither spaCy nor Thinc. The
modules are imported in a fresh interpreter, where nothing else has imported them already.
Besides, no module imports itself back through others (no import circle), and no module is
over 600 lines.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parent.parent / "spacy_dtn"
ROOMS = ("spacy_dtn.tools", "spacy_dtn.cli")  # everything else is the core
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def in_room(name: str) -> bool:
    return any(name == room or name.startswith(room + ".") for room in ROOMS)


def imported_modules(env_code: str, names: List[str]) -> List[str]:
    code = (
        "import importlib, json, sys\n"
        f"{env_code}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(names)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_the_core_imports_no_tool_and_no_command():
    core = [name for name in modules() if not in_room(name) and name != "spacy_dtn.__main__"]
    assert {"spacy_dtn.component", "spacy_dtn.architectures", "spacy_dtn.training"} <= set(core)
    loaded = imported_modules("", core)
    assert set(core) <= set(loaded)
    assert [m for m in loaded if in_room(m)] == []


def test_nn_is_pure_pytorch():
    loaded = imported_modules("", ["spacy_dtn.nn"])
    assert "torch" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("spacy", "thinc")] == []


def test_the_tag_codec_needs_no_torch():
    loaded = imported_modules("", ["spacy_dtn.iobes", "spacy_dtn.label_maps",
                                   "spacy_dtn.extensions"])
    assert [m for m in loaded if m.split(".")[0] in ("torch", "spacy", "thinc")] == []


def _imports(name: str, path: Path, known: Set[str]) -> Set[str]:
    """The package's modules that ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def test_no_import_circle():
    known = modules()
    graph = {name: _imports(name, path, set(known)) for name, path in known.items()}
    # A package's __init__ re-exporting its own modules is not a circle back into it.
    graph = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in graph.items()}
    state: Dict[str, int] = {}
    circles = []

    def visit(name: str, stack: List[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_no_module_over_600_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf8").splitlines())) > MAX_LINES}
    assert long == {}


def test_annotate_imports_its_ray_backend_only_for_that_backend():
    loaded = imported_modules("", ["spacy_dtn.tools.annotate", "spacy_dtn.tools.gates",
                                   "spacy_dtn.tools.visualize"])
    assert "spacy_dtn.tools.annotate.ray_backend" not in loaded
    assert "spacy_dtn.component" not in loaded  # the tools read the gates by name only
