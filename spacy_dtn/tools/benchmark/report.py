"""The benchmark's report as markdown (BENCHMARKS.md) and as tables on the terminal."""
from typing import Any, Dict, Optional

from wasabi import msg

from .data import DTN, NER


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def to_markdown(report: Dict[str, Any]) -> str:
    """The figures as Markdown tables, for BENCHMARKS.md (so nothing there is typed by hand)."""
    settings, meta = report["settings"], report["meta"]
    load = (f"{meta['load_average_start'][0]:.1f} at the start, "
            f"{meta['load_average_end'][0]:.1f} at the end")
    lines = [
        f"`{meta.get('command')}`",
        "",
        f"Data: `{settings['data']}`, {settings['n_docs']:,} docs, {settings['n_words']:,} words; "
        f"vectors: {settings['vectors'] or 'none'}. Machine: {meta['cpu']}, {meta['cpu_count']} "
        f"cores, load average (1 min) {load}; torch {meta['torch']}, spaCy {meta['spacy']}, "
        f"torch threads {meta['torch_threads']}; git {str(meta['git_commit'])[:7]}"
        f"{' (with uncommitted changes)' if meta.get('git_dirty') else ''}; {meta['date_utc']}.",
    ]
    for device in ("cpu", "gpu"):
        section = report.get(device)
        if not section:
            continue
        inf, mem = section["inference"], section.get("memory") or {}
        lines += ["", f"{device.upper()} inference, batch {settings['batch_size']}, "
                      f"{settings['repeats']} alternating repeats:", "",
                  "| system | words/s median | min | max | ratio to ner | peak memory |",
                  "|---|---:|---:|---:|---:|---|"]
        for name in (DTN, NER):
            m = mem.get(name) or {}
            if device == "cpu":
                peak = (f"RSS +{m['rss_peak_delta_mib']:.0f} MiB, "
                        f"Python {m['python_peak_mib']:.0f} MiB"
                        if m else "-")
            else:
                peak = f"CUDA +{m['cuda_peak_delta_mib']:.0f} MiB" if m else "-"
            lines.append(f"| {name} | {inf[name]['median']:,.0f} | {inf[name]['min']:,.0f} | "
                         f"{inf[name]['max']:,.0f} | "
                         f"{inf[name]['median'] / inf[NER]['median']:.2f} "
                         f"| {peak} |")
        for key, title in (("threads", "threads"), ("batch_size", "batch size")):
            if section.get(key):
                lines += ["", f"{device.upper()} inference by {title} ({settings['scan_docs']:,} "
                              f"docs, {settings['scan_words']:,} words, {settings['scan_repeats']} "
                              "repeats; words/s median [min-max]):", "",
                          f"| {title} | {DTN} | {NER} | ratio |", "|---:|---:|---:|---:|"]
                for k, v in section[key].items():
                    cells = [f"{v[n]['median']:,.0f} [{v[n]['min']:,.0f}-{v[n]['max']:,.0f}]"
                             for n in (DTN, NER)]
                    lines.append(f"| {k} | {cells[0]} | {cells[1]} | {v['ratio']:.2f} |")
        if section.get("training"):
            t = section["training"]
            lines += ["", f"{device.upper()} training, {settings['train_steps']} steps of "
                          f"{settings['train_batch_size']} sentences, {settings['repeats']} "
                          "repeats (sentences/s):", "",
                      "| system | median | min | max | ratio to ner |", "|---|---:|---:|---:|---:|"]
            for name in (DTN, NER):
                lines.append(f"| {name} | {t[name]['median']:,.1f} | {t[name]['min']:,.1f} | "
                             f"{t[name]['max']:,.1f} | "
                             f"{t[name]['median'] / t[NER]['median']:.2f} |")
    p = report["parameters"]
    before, after = p[DTN]["before_drop"], p[DTN]["after_drop"]
    lines += ["", "Parameters:", "", "| | with source task | source dropped |", "|---|---:|---:|",
              f"| {DTN}, torch network | {before['network']:,} | {after['network']:,} |",
              f"| {DTN}, whole pipeline (with tok2vec) | {before['total']:,} | "
              f"{after['total']:,} |",
              f"| {NER}, whole pipeline (tok2vec + ner) | {p[NER]['total']:,} | |"]
    return "\n".join(lines) + "\n"


def print_report(report: Dict[str, Any]) -> None:
    settings = report["settings"]
    msg.divider(f"{settings['n_docs']:,} docs, {settings['n_words']:,} words, "
                f"vectors: {settings['vectors'] or 'none'}")
    for device in ("cpu", "gpu"):
        section = report.get(device)
        if not section:
            continue
        inference, mem = section["inference"], section.get("memory") or {}
        rows = []
        for name in (DTN, NER):
            m = mem.get(name) or {}
            peak = ([_fmt(m.get("rss_peak_delta_mib"), 1), _fmt(m.get("python_peak_mib"), 1)]
                    if device == "cpu" else [_fmt(m.get("cuda_peak_delta_mib"), 1)])
            rows.append([name, _fmt(inference[name]["median"]), _fmt(inference[name]["min"]),
                         _fmt(inference[name]["max"]),
                         _fmt(inference[name]["median"] / inference[NER]["median"], 2), *peak])
        mem_header = (["RSS peak +MiB", "Python peak MiB"] if device == "cpu"
                      else ["CUDA peak +MiB"])
        msg.info(f"{device.upper()} inference, words/s, batch {settings['batch_size']}")
        msg.table(rows, header=["system", "median", "min", "max", "ratio", *mem_header],
                  divider=True, aligns=["l"] + ["r"] * (5 + len(mem_header) - 1))
        for key, title in (("threads", "threads"), ("batch_size", "batch size")):
            scan = section.get(key) or {}
            if scan:
                msg.info(f"{device.upper()} inference words/s (median) by {title}, "
                         f"{settings['scan_docs']:,} docs")
                msg.table([[k, _fmt(v[DTN]["median"]), _fmt(v[NER]["median"]),
                            _fmt(v["ratio"], 2)] for k, v in scan.items()],
                          header=[title, DTN, NER, "ratio"], divider=True,
                          aligns=["r", "r", "r", "r"])
        if section.get("training"):
            t = section["training"]
            msg.info(f"{device.upper()} training, sentences/s, batches of "
                     f"{settings['train_batch_size']}")
            msg.table([[n, _fmt(t[n]["median"], 1), _fmt(t[n]["min"], 1), _fmt(t[n]["max"], 1)]
                       for n in (DTN, NER)] + [["ratio", _fmt(t["ratio"], 2), "", ""]],
                      header=["system", "median", "min", "max"], divider=True,
                      aligns=["l", "r", "r", "r"])
    params = report["parameters"]
    msg.info("Parameters")
    before, after = params[DTN]["before_drop"], params[DTN]["after_drop"]
    msg.table([[f"{DTN} (torch network)", f"{before['network']:,}", f"{after['network']:,}"],
               [f"{DTN} (whole pipeline)", f"{before['total']:,}", f"{after['total']:,}"],
               [f"{NER} (whole pipeline)", f"{params[NER]['total']:,}", ""]],
              header=["", "with source", "source dropped"], divider=True,
              aligns=["l", "r", "r"])
