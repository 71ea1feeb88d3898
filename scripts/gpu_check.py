"""The prepared GPU check: one command, a few minutes on a GPU machine.

Whenever a GPU is at hand, run this first (before any grid or seeds), so that one short call
answers the three questions a GPU raises:

1. **Does ``dtn_ner`` train on the GPU?** ``spacy train configs/dtn.cfg`` for ``--steps``
   steps on the device (target fraction, source, vectors as the project's default setting),
   and spaCy's own ``ner`` (``configs/ner_efficiency.cfg``) for the same steps beside it.
2. **Does the GPU-trained model load and predict the same on the CPU?** Its ``model-last``
   predicts the first ``--n-test`` test sentences once on the GPU and once in a CPU-only
   process; the entities must be identical (the check exits 1 when they are not).
3. **How fast is inference on the GPU?** Words/s of ``dtn_ner`` and of spaCy's ``ner`` on the
   same sentences and device (best of ``--repeats`` passes after one warm-up pass), and their
   ratio.

Each step runs in its own process (``spacy train``, then this script's ``predict``), so the CPU
reload sees no CUDA state. ``--gpu-id -1`` runs everything on the CPU (tests/test_gpu_check.py
does, with a tiny budget). Output: ``report.json`` and ``report.md`` in ``--output-dir``.

    python scripts/gpu_check.py --target corpus/bc5cdr/train.spacy \\
        --source corpus/ncbi-disease/train.spacy --dev corpus/bc5cdr/dev.spacy \\
        --test corpus/bc5cdr/test.spacy --vectors training/vectors/glove-6b-50d \\
        --output-dir results/gpu-check --gpu-id 0
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]


def train_command(config: str, output: Path, args: argparse.Namespace,
                  with_source: bool) -> List[str]:
    """``spacy train`` of one config with the check's budget on its device."""
    cmd = [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / config),
           "--output", str(output), "--paths.target", str(args.target),
           "--paths.dev", str(args.dev), "--paths.vectors", str(args.vectors or "null"),
           "--corpora.train.target_fraction", str(args.fraction),
           "--corpora.dev.limit", str(args.dev_limit),
           "--training.max_steps", str(args.steps),
           "--training.eval_frequency", str(args.eval_frequency),
           "--training.patience", "0", "--gpu-id", str(args.gpu_id)]
    if with_source:
        cmd += ["--paths.source", str(args.source)]
    elif not args.vectors:  # spaCy's ner reads static vectors only when there are some
        cmd += ["--components.tok2vec.model.embed.include_static_vectors", "false"]
    return cmd


def run(cmd: List[str], log: Path) -> float:
    """Run a command with its output in ``log``; its wall seconds. A failure stops the check."""
    start = time.time()
    with log.open("a", encoding="utf8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        sys.exit(f"gpu_check: command failed (exit {code}), see {log}: {' '.join(cmd)}")
    return time.time() - start


def predict(model: str, data: str, n: int, gpu_id: int, batch_size: int, repeats: int,
            output: str) -> None:
    """(In its own process.) Entities of ``model`` on the first ``n`` sentences of ``data``,
    and the best words/s of ``repeats`` timed passes after one warm-up pass."""
    import spacy
    from spacy.tokens import Doc, DocBin

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    else:
        spacy.require_cpu()
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))[:n]
    words = [[token.text for token in doc] for doc in gold]

    def make_docs() -> List[Doc]:
        return [Doc(nlp.vocab, words=w) for w in words]

    docs = list(nlp.pipe(make_docs(), batch_size=batch_size))  # warm-up, and the entities
    timings = []
    for _ in range(repeats):
        fresh = make_docs()
        start = time.perf_counter()
        for _doc in nlp.pipe(fresh, batch_size=batch_size):
            pass
        timings.append(time.perf_counter() - start)
    n_words = sum(len(w) for w in words)
    ents = [[[e.start, e.end, e.label_] for e in doc.ents] for doc in docs]
    Path(output).write_text(json.dumps({
        "model": model, "gpu_id": gpu_id, "n_docs": len(docs), "n_words": n_words,
        "seconds": min(timings), "words_per_second": n_words / min(timings),
        "n_entities": sum(len(e) for e in ents), "ents": ents,
    }), encoding="utf8")


def differing_docs(a: Dict[str, Any], b: Dict[str, Any]) -> List[int]:
    """Indices of the sentences whose entities differ between two predictions."""
    return [i for i, (x, y) in enumerate(zip(a["ents"], b["ents"])) if x != y]


def to_markdown(report: Dict[str, Any]) -> str:
    lines = [f"# GPU check (gpu id {report['gpu_id']}, {report['device']})", "",
             f"Command: `{report['command']}`", "",
             "| step | result |", "|---|---|"]
    for name in ("dtn", "ner"):
        seconds = report["train_seconds"][name]
        lines.append(f"| train {name}, {report['steps']} steps | {seconds:.0f} s |")
    same = report["identical"]
    lines.append(f"| `dtn_ner` on the device, then reloaded on the CPU, {report['n_docs']} test "
                 f"sentences | {'identical' if same else 'DIFFERENT'} entities "
                 f"({report['n_entities']} on the device; {len(report['differing'])} "
                 f"sentences differ) |")
    for name in ("dtn", "ner"):
        lines.append(f"| inference words/s, {name} | {report['words_per_second'][name]:,.0f} |")
    lines.append(f"| ratio dtn / ner | {report['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def device_name(gpu_id: int) -> str:
    if gpu_id < 0:
        return "CPU"
    import torch

    return torch.cuda.get_device_name(gpu_id)


def check(args: argparse.Namespace) -> Dict[str, Any]:
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gpu_check.log"
    log.write_text("", encoding="utf8")
    train_seconds = {
        "dtn": run(train_command("dtn.cfg", out / "dtn", args, True), log),
        "ner": run(train_command("ner_efficiency.cfg", out / "ner", args, False), log),
    }
    preds: Dict[str, Dict[str, Any]] = {}
    for key, model, gpu_id in (("dtn", "dtn", args.gpu_id), ("dtn_cpu", "dtn", -1),
                               ("ner", "ner", args.gpu_id)):
        path = out / f"predict-{key}.json"
        run([sys.executable, str(Path(__file__).resolve()), "predict",
             str(out / model / "model-last"), str(args.test), str(args.n_test), str(gpu_id),
             str(args.batch_size), str(args.repeats), str(path)], log)
        preds[key] = json.loads(path.read_text(encoding="utf8"))
    differing = differing_docs(preds["dtn"], preds["dtn_cpu"])
    speed = {name: preds[name]["words_per_second"] for name in ("dtn", "ner")}
    report = {
        "command": "python scripts/gpu_check.py " + " ".join(sys.argv[1:]),
        "gpu_id": args.gpu_id, "device": device_name(args.gpu_id), "steps": args.steps,
        "train_seconds": train_seconds, "n_docs": preds["dtn"]["n_docs"],
        "n_words": preds["dtn"]["n_words"], "n_entities": preds["dtn"]["n_entities"],
        "identical": not differing and preds["dtn"]["n_docs"] == preds["dtn_cpu"]["n_docs"],
        "differing": differing, "words_per_second": speed,
        "ratio": speed["dtn"] / speed["ner"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf8")
    (out / "report.md").write_text(to_markdown(report), encoding="utf8")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "predict":
        model, data, n, gpu_id, batch_size, repeats, output = argv[1:8]
        predict(model, data, int(n), int(gpu_id), int(batch_size), int(repeats), output)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, required=True, help="target train DocBin")
    parser.add_argument("--source", type=Path, required=True, help="source train DocBin")
    parser.add_argument("--dev", type=Path, required=True, help="target dev DocBin")
    parser.add_argument("--test", type=Path, required=True, help="target test DocBin")
    parser.add_argument("--vectors", type=Path, help="spaCy vectors pipeline (default: none)")
    parser.add_argument("--output-dir", type=Path, default=Path("results/gpu-check"))
    parser.add_argument("--gpu-id", type=int, default=0, help="-1: everything on the CPU")
    parser.add_argument("--steps", type=int, default=400, help="training steps of each model")
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--dev-limit", type=int, default=500, help="dev sentences scored")
    parser.add_argument("--fraction", type=float, default=0.1, help="target share kept")
    parser.add_argument("--n-test", type=int, default=500, help="test sentences predicted")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed inference passes")
    report = check(parser.parse_args(argv))
    print(to_markdown(report))
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
