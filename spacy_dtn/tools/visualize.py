"""``python -m spacy_dtn visualize MODEL DATA``: error analysis in the browser.

F1 says how often a model is wrong, not where. This command renders, with displaCy, each
sentence's gold entities above the predicted ones, marks the errors (a false positive is a
predicted span that is not a gold span of the same type and boundaries, a false negative a gold
span that was not predicted: the strict matching of the evaluation), counts TP/FP/FN per type
at the top, and, for a DTN, draws a band of the gates under each sentence: one cell per token
and gate, coloured by the value, as in the paper's Figure 4 (g1: hard → soft sharing, blue;
g2: independent → shared, orange).

The page is one static HTML file: inline CSS and JS, no external URL, so it opens offline and
can be attached to a report. A checkbox (or ``#errors`` in the URL) hides the sentences
without errors; the inline script also draws the gate cells from the values each gate row
carries (compact: the BC5CDR test set's page is 12.5 MB instead of 55 MB with static cells).
``--serve PORT`` serves the same page with :mod:`http.server`.

The model runs over docs built from the gold words (:func:`spacy_dtn.tools.gated.run_gates`), so the
predicted and gold spans share token offsets and the gates align with the tokens.
"""
import html
import http.server
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from wasabi import msg

from ..extensions import GATES_EXTENSION, register_extensions
from .gated import GatesError, enable_gates, gate_names, load_pipeline, run_gates

register_extensions()  # read from any pipeline's docs, with or without dtn_ner

Triple = Tuple[int, int, str]  # (start token, end token, label): what strict matching compares
TP, FP, FN = "tp", "fp", "fn"
ALL = "All"
ERRORS_HASH = "errors"  # page.html#errors opens the page with the filter on
# displaCy's palette (spacy.displacy.render.DEFAULT_LABEL_COLORS has none for biomedical types)
PALETTE = ("#7aecec", "#feca74", "#aa9cfc", "#bfeeb7", "#ff9561", "#c887fb", "#9cc9cc",
           "#ffeb80", "#ff8197", "#e4e7d2", "#bfe1d9", "#f0d0ff")
# One displaCy mark: ``status`` and ``badge`` come in through each span's ``params``.
TPL_MARK = ('<mark class="entity {status}" data-label="{label}" style="background: {bg}">'
            '{text}<span class="label">{label}</span>{badge}</mark>')


# ------------------------------------------------------------------ matching and counts


def triples(doc) -> Set[Triple]:
    """The entities of ``doc.ents`` as (start, end, label) token triples."""
    return {(ent.start, ent.end, ent.label_) for ent in doc.ents}


def match(gold, pred) -> Dict[str, Set[Triple]]:
    """Strict matching: TP in both, FP predicted only, FN gold only (type and boundaries)."""
    gold_set, pred_set = triples(gold), triples(pred)
    return {TP: gold_set & pred_set, FP: pred_set - gold_set, FN: gold_set - pred_set}


def count_by_type(matches: Iterable[Dict[str, Set[Triple]]]) -> Dict[str, Dict[str, int]]:
    """TP/FP/FN per entity type (sorted) and over all types (last row, ``All``)."""
    counts: Dict[str, Dict[str, int]] = {}
    for m in matches:
        for kind, spans in m.items():
            for _, _, label in spans:
                for row in (label, ALL):
                    counts.setdefault(row, {TP: 0, FP: 0, FN: 0})[kind] += 1
    order = sorted(r for r in counts if r != ALL) + ([ALL] if ALL in counts else [])
    return {row: counts[row] for row in order}


def prf(row: Dict[str, int]) -> Tuple[float, float, float]:
    """Precision, recall and F1 of one count row (0.0 where undefined)."""
    tp, fp, fn = row[TP], row[FP], row[FN]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# ------------------------------------------------------------------ HTML pieces


def label_colors(labels: Iterable[str]) -> Dict[str, str]:
    """One palette colour per label (sorted, so a type keeps its colour across pages)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def render_ents(doc, status: Dict[Triple, str], colors: Dict[str, str]) -> str:
    """displaCy's ``ent`` markup of ``doc.ents``, each mark carrying its TP/FP/FN class.

    Manual mode, because displaCy's own doc parsing can't pass a class per span; displaCy
    escapes the text but not the labels, so they are escaped here (colours keyed to match).
    """
    from spacy import displacy

    ents = []
    for ent in doc.ents:
        kind = status.get((ent.start, ent.end, ent.label_), TP)
        badge = "" if kind == TP else f'<b class="badge">{kind.upper()}</b>'
        ents.append({"start": ent.start_char, "end": ent.end_char,
                     "label": html.escape(ent.label_),
                     "params": {"status": kind, "badge": badge}})
    options = {"template": TPL_MARK,
               "colors": {html.escape(k): v for k, v in colors.items()}}
    return displacy.render({"text": doc.text, "ents": ents, "title": None}, style="ent",
                           manual=True, page=False, jupyter=False, options=options)


def gate_band(doc, gates: Dict[str, Sequence[float]]) -> str:
    """A table under the sentence: the words, then one row per gate.

    Each row holds its values as percentages in ``data-v``; the page's script turns them into
    one coloured cell per token at load. Static cells cost ~60 bytes each, 43 MB of the 55 MB
    that BC5CDR's test set (4,797 sentences, 6 gates) took; this way the page is ~12 MB.
    """
    names = gate_names(gates)
    if not names:
        return ""
    esc = html.escape
    rows = ['<tr><th></th>' + "".join(f'<th class="w">{esc(t.text)}</th>' for t in doc)
            + "</tr>"]
    for name in names:
        kind = name.rsplit("_", 1)[1]
        values = " ".join(str(round(100 * min(max(float(v), 0.0), 1.0))) for v in gates[name])
        rows.append(f'<tr class="{kind}" data-gate="{esc(name)}" data-v="{values}">'
                    f'<th>{esc(name.replace("_", " "))}</th></tr>')
    return '<div class="band"><table class="gates">' + "".join(rows) + "</table></div>"


def sentence_html(index: int, gold, pred, colors: Dict[str, str]) -> str:
    """One sentence: gold row, predicted row (FN marked on gold, FP on predicted), gate band."""
    m = match(gold, pred)
    n_fp, n_fn = len(m[FP]), len(m[FN])
    gold_status = {t: FN for t in m[FN]}
    pred_status = {t: FP for t in m[FP]}
    errors = ", ".join(f"{n} {k.upper()}" for k, n in ((FP, n_fp), (FN, n_fn)) if n) or "no errors"
    gates = pred._.get(GATES_EXTENSION)
    return (
        f'<section class="sentence" id="s{index}" data-fp="{n_fp}" data-fn="{n_fn}" '
        f'data-errors="{n_fp + n_fn}">'
        f'<h3><a href="#s{index}">#{index}</a> <span class="errs">{errors}</span></h3>'
        f'<div class="row gold"><span class="side">gold</span>'
        f"{render_ents(gold, gold_status, colors)}</div>"
        f'<div class="row pred"><span class="side">predicted</span>'
        f"{render_ents(pred, pred_status, colors)}</div>"
        f"{gate_band(pred, gates or {})}</section>"
    )


def counts_html(counts: Dict[str, Dict[str, int]]) -> str:
    """The per-type table at the top: gold/predicted totals, TP/FP/FN, P/R/F1."""
    head = ("<tr><th>type</th><th>gold</th><th>predicted</th><th>TP</th><th>FP</th>"
            "<th>FN</th><th>P</th><th>R</th><th>F1</th></tr>")
    rows = []
    for row, c in counts.items():
        p, r, f = prf(c)
        rows.append(
            f'<tr data-type="{html.escape(row)}"><th>{html.escape(row)}</th>'
            f'<td class="n-gold">{c[TP] + c[FN]}</td><td class="n-pred">{c[TP] + c[FP]}</td>'
            f'<td class="n-tp">{c[TP]}</td><td class="n-fp">{c[FP]}</td>'
            f'<td class="n-fn">{c[FN]}</td><td>{100 * p:.1f}</td><td>{100 * r:.1f}</td>'
            f"<td>{100 * f:.1f}</td></tr>"
        )
    return '<table class="counts">' + head + "".join(rows) + "</table>"


STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h3{font-size:.9em;margin:.2em 0;color:#555}
h3 a{color:#555;text-decoration:none} .errs{font-weight:normal}
.meta{color:#555;font-size:.85em;margin:.2em 0 .8em}
table.counts{border-collapse:collapse;font-size:.85em;margin-bottom:.6em}
table.counts td,table.counts th{border:1px solid #ccc;padding:2px 8px;text-align:right}
table.counts tr th:first-child{text-align:left}
.controls{margin:.6em 0;font-size:.9em} .legend{font-size:.8em;color:#444;margin:.3em 0 1em}
.sentence{border-top:1px solid #e3e3e3;padding:.4em 0 .6em}
.row{display:flex;align-items:baseline} .side{flex:0 0 6.5em;font-size:.75em;color:#888}
.entities{flex:1;line-height:2.3!important;font-size:.95em}
mark.entity{padding:.2em .45em;margin:0 .2em;line-height:1;border-radius:.35em}
mark.entity .label{font-size:.7em;font-weight:bold;margin-left:.35rem;vertical-align:middle}
mark.fn{outline:2px solid #d62728} mark.fp{outline:2px dashed #d62728}
.badge{font-size:.62em;color:#fff;background:#d62728;border-radius:.3em;padding:0 .25em;
  margin-left:.3em;vertical-align:middle}
.band{overflow-x:auto;margin:.2em 0 0 6.5em}
table.gates{border-collapse:collapse;font-size:9px;color:#666}
table.gates th{font-weight:normal;text-align:right;padding:0 4px 0 0;white-space:nowrap;
  position:sticky;left:0;background:#fff}
table.gates th.w{text-align:center;padding:0 2px;max-width:7em;overflow:hidden;
  text-overflow:ellipsis;position:static}
td.g{height:10px;min-width:9px;padding:0;border:1px solid #fff}
tr.g1 td.g{background:rgba(31,119,180,var(--v))}
tr.g2 td.g{background:rgba(255,127,14,var(--v))}
.swatch{display:inline-block;width:4em;height:.8em;vertical-align:middle;margin:0 .3em}
.sentence[hidden]{display:none}
"""

SCRIPT = """
(function () {
  document.querySelectorAll("tr[data-gate]").forEach(function (tr) {
    var name = tr.getAttribute("data-gate").replace("_", " ");
    var cells = tr.getAttribute("data-v").split(" ").filter(Boolean).map(function (p) {
      var v = (p / 100).toFixed(2);
      return '<td class="g" style="--v:' + v + '" title="' + name + " " + v + '"></td>';
    });
    tr.insertAdjacentHTML("beforeend", cells.join(""));
  });
  var box = document.getElementById("only-errors");
  var shown = document.getElementById("shown");
  var sentences = document.querySelectorAll("section.sentence");
  function apply() {
    var n = 0;
    sentences.forEach(function (s) {
      s.hidden = box.checked && s.getAttribute("data-errors") === "0";
      if (!s.hidden) n += 1;
    });
    shown.textContent = n;
  }
  box.addEventListener("change", function () {
    apply();
    try {
      history.replaceState(null, "", box.checked ? "#%(hash)s" : location.pathname);
    } catch (e) {}
  });
  if (location.hash === "#%(hash)s" || /[?&]errors=1/.test(location.search)) box.checked = true;
  apply();
})();
""" % {"hash": ERRORS_HASH}


def build_page(
    gold_docs: Sequence[Any], pred_docs: Sequence[Any], title: str = "Entity errors",
    meta: str = "", start: int = 0,
) -> str:
    """The whole page: title, counts per type, filter, legend, one section per sentence.

    gold_docs, pred_docs: aligned docs with the same tokens (pred from the gold words).
    meta: a line under the title (model, data), plain text.
    start: the index of the first doc in its corpus, so that ``#N`` names the same doc as
        ``--sentence N`` of the gates command.
    """
    if len(gold_docs) != len(pred_docs):
        raise ValueError(f"{len(gold_docs)} gold docs but {len(pred_docs)} predicted docs")
    esc = html.escape
    matches = [match(g, p) for g, p in zip(gold_docs, pred_docs)]
    n_errors = sum(1 for m in matches if m[FP] or m[FN])
    labels = [e.label_ for d in list(gold_docs) + list(pred_docs) for e in d.ents]
    colors = label_colors(labels)
    sections = "\n".join(sentence_html(i, g, p, colors)
                         for i, (g, p) in enumerate(zip(gold_docs, pred_docs), start))
    has_gates = any(p._.get(GATES_EXTENSION) for p in pred_docs)
    legend = ("Gold entities above the predicted ones. Solid red outline + <b>FN</b>: gold "
              "span not predicted; dashed red outline + <b>FP</b>: predicted span not in the "
              "gold (strict: same type and boundaries).")
    if has_gates:
        legend += (' Gate band, one cell per token (hover for the value): g1 '
                   '<span class="swatch" style="background:linear-gradient(to right,'
                   'rgba(31,119,180,0),rgba(31,119,180,1))"></span> 0 = hard sharing … '
                   '1 = soft sharing; g2 <span class="swatch" style="background:'
                   'linear-gradient(to right,rgba(255,127,14,0),rgba(255,127,14,1))"></span>'
                   " 0 = independent … 1 = shared.")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{esc(title)}</h1>"
        + (f'<p class="meta">{esc(meta)}</p>' if meta else "")
        + counts_html(count_by_type(matches))
        + f'<div class="controls"><label><input type="checkbox" id="only-errors"> only '
        f"sentences with errors</label> · showing <span id=\"shown\">{len(gold_docs)}</span> "
        f'of <span id="total">{len(gold_docs)}</span> sentences, '
        f'<span id="with-errors">{n_errors}</span> with errors</div>'
        f'<p class="legend">{legend}</p>\n'
        f"{sections}\n<script>{SCRIPT}</script></body></html>\n"
    )


# ------------------------------------------------------------------ model, data, serving


class VisualizeError(Exception):
    """A problem with the command's input: one line, exit code 1."""


def read_gold(data: Path, vocab, limit: Optional[int] = None) -> List[Any]:
    """The first ``limit`` docs (all when None) of a DocBin; VisualizeError when unreadable."""
    from itertools import islice

    from spacy.tokens import DocBin

    if not data.is_file():
        raise VisualizeError(f"data not found: {data}")
    try:
        return list(islice(DocBin().from_disk(data).get_docs(vocab), limit))
    except Exception:  # spaCy's E1014, zlib, msgpack...: all mean "not a DocBin"
        raise VisualizeError(f"{data}: not a readable DocBin (.spacy)") from None


def predict(model: Union[str, Path], data: Path, limit: Optional[int] = None,
            spans_key: Optional[str] = None):
    """(gold docs, predicted docs, whether gates were stored) for the page.

    A DTN (``dtn_ner`` with sharing dtn or dtn_hs) runs with ``store_gates`` on; any other
    pipeline (spaCy's ``ner``, a TTN code) is shown without the gate band.
    """
    try:
        nlp = load_pipeline(model)
    except GatesError as err:
        raise VisualizeError(str(err)) from None
    try:
        enable_gates(nlp, model)
        gated = True
    except GatesError as err:
        msg.info(f"No gate band: {err}")
        gated = False
    gold = read_gold(data, nlp.vocab, limit)
    try:
        preds = run_gates(nlp, gold, spans_key, require_gates=gated)
    except (GatesError, ValueError) as err:
        raise VisualizeError(str(err)) from None
    return gold, preds, gated


def make_server(page: str, port: int, host: str = "127.0.0.1") -> http.server.HTTPServer:
    """An HTTP server answering every GET with the page (port 0: any free port)."""
    body = page.encode("utf8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # quiet: one line per request is noise here
            pass

    return http.server.HTTPServer((host, port), Handler)


def serve(page: str, port: int, host: str = "127.0.0.1") -> None:
    """Serve the page until Ctrl-C (blocking)."""
    server = make_server(page, port, host)
    msg.good(f"Serving on http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def visualize(
    model: Union[str, Path], data: Path, *, limit: Optional[int] = None,
    spans_key: Optional[str] = None,
) -> Tuple[str, int]:
    """The error-analysis page of ``model`` on the first ``limit`` docs (all when None) of the
    DocBin ``data``; problems with the arguments, the model or the data raise
    :class:`VisualizeError`.

    RETURNS: the page (HTML) and the number of docs on it.
    """
    if limit is not None and limit < 1:
        raise VisualizeError(f"--limit {limit}: give a positive number of docs")
    gold, preds, _ = predict(model, data, limit, spans_key)
    page = build_page(gold, preds, title=f"Entity errors: {data.name}",
                      meta=f"model {model} · data {data} · {len(gold)} docs")
    return page, len(gold)
