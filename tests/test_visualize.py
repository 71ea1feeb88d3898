"""``visualize``: the error-analysis page, checked by hand and in a real headless Chromium.

The strict matching and the counts are checked on hand-made docs. The page is then rendered by
Chromium (Debian's package, installed by the fixture when missing) and the DOM it dumps is read
back: the FP/FN marks of every sentence, the per-type counts and the gate cells must equal what
this file computes on its own from the gold docs and a fresh run of the same saved pipeline,
and ``#errors`` must hide exactly the sentences without errors.
"""
import os
import shutil
import subprocess
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
import spacy
import typer
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from dtn_helpers import read_examples, small_english_pipeline_name
from spacy_dtn.cli.visualize import visualize_cli
from spacy_dtn.tools.visualize import build_page, count_by_type, make_server, match

GATE_NAMES = ["char_g1", "char_g2", "word_g1", "word_g2", "decoder_g1", "decoder_g2"]


def cli(*args):
    app = typer.Typer()
    app.command()(visualize_cli)
    return CliRunner().invoke(app, [str(a) for a in args])


def make_doc(vocab, words, ents):
    doc = Doc(vocab, words=words)
    doc.ents = [Span(doc, s, e, label) for s, e, label in ents]
    return doc


# ------------------------------------------------------------------ by hand


def test_match_and_counts_by_hand():
    vocab = spacy.blank("en").vocab
    words = ["Aspirin", "causes", "heart", "failure", "and", "rash"]
    gold = make_doc(vocab, words, [(0, 1, "Chemical"), (2, 4, "Disease"), (5, 6, "Disease")])
    # Right, wrong boundary (FP + FN), wrong type (FP + FN)
    pred = make_doc(vocab, words, [(0, 1, "Chemical"), (3, 4, "Disease"), (5, 6, "Chemical")])
    m = match(gold, pred)
    assert m["tp"] == {(0, 1, "Chemical")}
    assert m["fp"] == {(3, 4, "Disease"), (5, 6, "Chemical")}
    assert m["fn"] == {(2, 4, "Disease"), (5, 6, "Disease")}
    counts = count_by_type([m, match(gold, gold)])
    assert list(counts) == ["Chemical", "Disease", "All"]
    assert counts["Chemical"] == {"tp": 2, "fp": 1, "fn": 0}
    assert counts["Disease"] == {"tp": 2, "fp": 1, "fn": 2}
    assert counts["All"] == {"tp": 4, "fp": 2, "fn": 2}


def test_page_escapes_text_labels_and_title():
    vocab = spacy.blank("en").vocab
    words = ["<b>&", "x", "<script>"]
    gold = make_doc(vocab, words, [(0, 1, "<i>")])
    pred = make_doc(vocab, words, [(2, 3, "<i>")])
    page = build_page([gold], [pred], title="<t>", meta="<m>")
    body = page.split("<script>")[0]  # the page's own script comes last
    for raw in ("<b>&", "<i>", "<t>", "<m>"):
        assert raw not in body
    assert "&lt;b&gt;&amp;" in body and "&lt;i&gt;" in body and "&lt;t&gt;" in body
    assert page.count("<script>") == 1  # the word "<script>" did not open a second one
    assert "http://" not in page and "https://" not in page  # no network dependency


def test_gate_band_cells_by_hand():
    vocab = spacy.blank("en").vocab
    words = ["Aspirin", "causes", "rash"]
    gold = make_doc(vocab, words, [(0, 1, "Chemical")])
    pred = make_doc(vocab, words, [(0, 1, "Chemical")])
    pred._.dtn_gates = {"char_g1": [0.1, 0.25, 1.0], "decoder_g2": [0.0, 0.5, 0.75]}
    dom = parse(build_page([gold], [pred]))
    (section,) = dom.sections
    assert section["stored"] == {"char_g1": [0.1, 0.25, 1.0], "decoder_g2": [0.0, 0.5, 0.75]}
    assert section["gates"] == {"char_g1": [], "decoder_g2": []}  # cells: the script's job
    assert section["gate_kinds"] == {"char_g1": {"g1"}, "decoder_g2": {"g2"}}
    assert section["errors"] == "0"
    # Without gates, no band (spaCy's ner, a TTN code).
    assert parse(build_page([gold], [gold])).sections[0]["stored"] == {}


def test_serve_answers_with_the_page():
    page = build_page([], [], title="served")
    server = make_server(page, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.read().decode("utf8") == page
    finally:
        server.shutdown()
        server.server_close()


def test_cli_errors_are_one_line(tmp_path):
    result = cli(tmp_path, tmp_path / "x.spacy")
    assert result.exit_code == 1 and "give --output" in result.output
    result = cli(tmp_path / "missing", tmp_path / "x.spacy", "--output", tmp_path / "p.html")
    assert result.exit_code == 1 and "Model not found" in result.output
    spacy.blank("en").to_disk(tmp_path / "blank")
    result = cli(tmp_path / "blank", tmp_path / "x.spacy", "--output", tmp_path / "p.html")
    assert result.exit_code == 1 and "data not found" in result.output
    (tmp_path / "bad.spacy").write_text("not a DocBin\n")
    result = cli(tmp_path / "blank", tmp_path / "bad.spacy", "--output", tmp_path / "p.html")
    assert result.exit_code == 1 and "not a readable DocBin" in result.output
    result = cli(tmp_path / "blank", tmp_path / "bad.spacy", "-o", tmp_path / "p.html",
                 "--limit", 0)
    assert result.exit_code == 1 and "--limit 0" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p.html").exists()


def test_cli_takes_an_installed_package_name(tmp_path):
    """evaluate's and annotate's loader: a package name is a model, like a directory."""
    name = small_english_pipeline_name()
    nlp = spacy.blank("en")
    gold = make_doc(nlp.vocab, ["Mr", "Smith", "lives", "in", "Boston", "."],
                    [(1, 2, "PERSON"), (4, 5, "GPE")])
    DocBin(docs=[gold]).to_disk(tmp_path / "gold.spacy")
    result = cli(name, tmp_path / "gold.spacy", "--output", tmp_path / "p.html")
    assert result.exit_code == 0, result.output
    assert "No gate band" in result.output and "no dtn_ner component" in result.output
    page = (tmp_path / "p.html").read_text(encoding="utf8")
    assert f"model {name} · data" in page and page.count('<section class="sentence"') == 1


# ------------------------------------------------------------------ the DOM, read back


class DomReader(HTMLParser):
    """What the tests check, collected from a (dumped) page: the sentences with their marks and
    gate cells, the counts table, the filter's counters. Only what the page itself writes."""

    def __init__(self):
        super().__init__()
        self.sections, self.counts, self.spans = [], {}, {}
        self._row = self._mark = self._count_row = self._gate = self._span = None
        self._cell = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "section" and "sentence" in classes:
            self.sections.append({"id": a["id"], "errors": a["data-errors"],
                                  "hidden": "hidden" in a, "marks": [], "gates": {},
                                  "stored": {}, "gate_kinds": {}})
        elif tag == "div" and "row" in classes:
            self._row = "gold" if "gold" in classes else "pred"
        elif tag == "mark":
            self._mark = {"row": self._row, "status": (classes - {"entity"}).pop(),
                          "label": a["data-label"]}
            self._text = []
        elif tag == "span" and self._mark is not None:
            self._mark["text"] = "".join(self._text).strip()  # the label span follows
        elif tag == "tr" and "data-type" in a:
            self._count_row = self.counts.setdefault(a["data-type"], {})
        elif tag == "td" and self._count_row is not None:
            self._cell, self._text = (a.get("class") or "-").replace("n-", ""), []
        elif tag == "tr" and "data-gate" in a:  # the values as written, in percent
            self._gate, section = a["data-gate"], self.sections[-1]
            section["stored"][self._gate] = [int(v) / 100 for v in a["data-v"].split()]
            section["gate_kinds"][self._gate] = classes
            section["gates"][self._gate] = []
        elif tag == "td" and self._gate is not None:  # the cells, built by the page's script
            assert classes == {"g"}
            value = float(a["style"].split("--v:")[1].rstrip(";"))
            assert a["title"] == f"{self._gate.replace('_', ' ')} {value:.2f}"
            self.sections[-1]["gates"][self._gate].append(value)
        elif tag == "span" and a.get("id") in ("shown", "total", "with-errors"):
            self._span, self._text = a["id"], []

    def handle_endtag(self, tag):
        if tag == "mark" and self._mark is not None:
            self.sections[-1]["marks"].append(self._mark)
            self._mark = None
        elif tag == "td" and self._cell is not None:
            self._count_row[self._cell] = "".join(self._text).strip()
            self._cell = None
        elif tag == "tr":
            self._count_row = self._gate = None
        elif tag == "span" and self._span is not None:
            self.spans[self._span] = int("".join(self._text))
            self._span = None

    def handle_data(self, data):
        self._text.append(data)


def parse(page: str) -> DomReader:
    reader = DomReader()
    reader.feed(page)
    return reader


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium: the one on PATH, else Debian's package installed with apt-get."""
    if find_chromium() is None:
        if not shutil.which("apt-get") or os.geteuid() != 0:
            pytest.skip("no chromium on PATH and no apt-get as root to install it")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command, timeout in ((["apt-get", "update"], 300),
                                 (["apt-get", "install", "-y", "chromium"], 900)):
            try:
                subprocess.run(command, env=env, timeout=timeout, check=True,
                               capture_output=True)
            except (OSError, subprocess.SubprocessError) as err:
                pytest.skip(f"chromium not installed: {' '.join(command)} failed ({err})")
    path = find_chromium()
    if path is None:
        pytest.skip("chromium not found on PATH even after apt-get install chromium")
    return path


def headless(chromium, tmp_path, *args) -> subprocess.CompletedProcess:
    """Chromium, headless, with a profile of its own (parallel runs don't share a lock)."""
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=True,
    )


def dump_dom(chromium, tmp_path, url: str) -> DomReader:
    return parse(headless(chromium, tmp_path, "--dump-dom", url).stdout)


def predictions(model: Path, gold_docs):
    """The saved pipeline, loaded afresh and run on the gold words: the test's own run."""
    nlp = spacy.load(model)
    if "dtn_ner" in nlp.pipe_names:
        nlp.get_pipe("dtn_ner").store_gates = True
    words = [Doc(nlp.vocab, words=[t.text for t in g], spaces=[bool(t.whitespace_) for t in g])
             for g in gold_docs]
    return list(nlp.pipe(words))


def char_spans(doc):
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def texts(doc, spans):
    """(text, label) of character spans of ``doc``, sorted: what a mark shows."""
    return sorted((doc.text[s:e], label) for s, e, label in spans)


@pytest.fixture(scope="module")
def ruler_run(tmp_path_factory):
    """An entity_ruler with the entity strings of 200 BC5CDR train sentences (so it finds some
    test entities, misses others and tags some strings out of context), 40 test sentences."""
    root = tmp_path_factory.mktemp("visualize")
    nlp = spacy.blank("en")
    train = read_examples(nlp, "bc5cdr", "train", 200)
    patterns = sorted({(e.text, e.label_) for eg in train for e in eg.reference.ents})
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": label, "pattern": text} for text, label in patterns])
    nlp.to_disk(root / "ruler")
    gold = [eg.reference for eg in read_examples(nlp, "bc5cdr", "test", 40)]
    DocBin(docs=gold).to_disk(root / "test.spacy")
    page = root / "page.html"
    result = cli(root / "ruler", root / "test.spacy", "--output", page)
    assert result.exit_code == 0, result.output
    return root, gold, page


def test_dom_marks_and_counts(chromium, ruler_run, tmp_path):
    root, gold, page = ruler_run
    preds = predictions(root / "ruler", gold)
    dom = dump_dom(chromium, tmp_path, page.as_uri())
    assert len(dom.sections) == len(gold) == 40
    expected_counts = {}
    for g, p, section in zip(gold, preds, dom.sections):
        gold_spans, pred_spans = char_spans(g), char_spans(p)
        fp, fn = pred_spans - gold_spans, gold_spans - pred_spans
        marks = section["marks"]
        shown = {k: sorted((m["text"], m["label"]) for m in marks if m["status"] == k)
                 for k in ("fp", "fn")}
        assert shown == {"fp": texts(g, fp), "fn": texts(g, fn)}
        assert {m["row"] for m in marks if m["status"] == "fp"} <= {"pred"}
        assert {m["row"] for m in marks if m["status"] == "fn"} <= {"gold"}
        assert sum(m["row"] == "gold" for m in marks) == len(gold_spans)
        assert sum(m["row"] == "pred" for m in marks) == len(pred_spans)
        assert section["errors"] == str(len(fp) + len(fn)) and not section["hidden"]
        for kind, spans in (("tp", gold_spans & pred_spans), ("fp", fp), ("fn", fn)):
            for *_, label in spans:
                for row in (label, "All"):
                    c = expected_counts.setdefault(row, {"tp": 0, "fp": 0, "fn": 0})
                    c[kind] += 1
    # An imperfect model: the page has all three kinds to show.
    assert all(expected_counts["All"][k] > 0 for k in ("tp", "fp", "fn")), expected_counts
    assert set(dom.counts) == set(expected_counts) == {"Chemical", "Disease", "All"}
    for row, c in expected_counts.items():
        shown = dom.counts[row]
        assert {k: int(shown[k]) for k in ("tp", "fp", "fn")} == c, row
        assert int(shown["gold"]) == c["tp"] + c["fn"]
        assert int(shown["pred"]) == c["tp"] + c["fp"]
    n_errors = sum(char_spans(g) != char_spans(p) for g, p in zip(gold, preds))
    assert dom.spans == {"shown": 40, "total": 40, "with-errors": n_errors}


def test_errors_filter_in_the_browser(chromium, ruler_run, tmp_path):
    _, _, page = ruler_run
    dom = dump_dom(chromium, tmp_path, page.as_uri() + "#errors")
    clean = [s for s in dom.sections if s["errors"] == "0"]
    wrong = [s for s in dom.sections if s["errors"] != "0"]
    assert clean and wrong  # both kinds, or the filter shows nothing
    assert all(s["hidden"] for s in clean) and not any(s["hidden"] for s in wrong)
    assert dom.spans["shown"] == len(wrong) == dom.spans["with-errors"]
    query = dump_dom(chromium, tmp_path, page.as_uri() + "?errors=1")
    assert [s["hidden"] for s in query.sections] == [s["hidden"] for s in dom.sections]


def test_screenshot(chromium, ruler_run, tmp_path):
    _, _, page = ruler_run
    png = tmp_path / "page.png"
    headless(chromium, tmp_path, f"--screenshot={png}", "--window-size=1200,1600",
             page.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 1600)


def test_dtn_gate_band_in_the_browser(chromium, trained, tmp_path):
    """The conftest DTN, saved: one gate row per gate and one cell per token, each cell the
    value that a fresh run of the saved model stores on ``doc._.dtn_gates``."""
    nlp = trained[0]
    nlp.to_disk(tmp_path / "dtn")
    gold = [eg.reference for eg in read_examples(nlp, "bc5cdr", "test", 12)]
    DocBin(docs=gold).to_disk(tmp_path / "test.spacy")
    page = tmp_path / "dtn.html"
    result = cli(tmp_path / "dtn", tmp_path / "test.spacy", "--output", page, "--limit", 5)
    assert result.exit_code == 0, result.output
    preds = predictions(tmp_path / "dtn", gold[:5])
    dom = dump_dom(chromium, tmp_path, page.as_uri())
    assert len(dom.sections) == 5
    for g, p, section in zip(gold, preds, dom.sections):
        assert list(section["gates"]) == GATE_NAMES
        for name in GATE_NAMES:  # stored in percent: within half a percent
            assert section["gates"][name] == pytest.approx(p._.dtn_gates[name], abs=5.01e-3)
            assert section["gates"][name] == section["stored"][name]
            assert len(section["gates"][name]) == len(g)
            assert section["gate_kinds"][name] == {name[-2:]}
        n_errors = len(char_spans(g) ^ char_spans(p))
        assert section["errors"] == str(n_errors)


def test_dtn_with_spans_key_keeps_its_gates(chromium, trained, tmp_path):
    """A dtn_ner writing to ``doc.spans[KEY]``: the page shows those spans as the prediction and
    still has the gate band (the entities move to a new doc, the gates go with them)."""
    nlp = trained[0]
    nlp.to_disk(tmp_path / "dtn")
    config = tmp_path / "dtn" / "config.cfg"
    text = config.read_text()
    assert text.count("spans_key = null") == 1
    config.write_text(text.replace("spans_key = null", 'spans_key = "dtn"'))
    gold = [eg.reference for eg in read_examples(nlp, "bc5cdr", "test", 3)]
    DocBin(docs=gold).to_disk(tmp_path / "test.spacy")
    page = tmp_path / "dtn.html"
    result = cli(tmp_path / "dtn", tmp_path / "test.spacy", "-o", page, "--spans-key", "dtn")
    assert result.exit_code == 0, result.output
    preds = predictions(tmp_path / "dtn", gold)
    dom = dump_dom(chromium, tmp_path, page.as_uri())
    for g, p, section in zip(gold, preds, dom.sections):
        assert not p.ents  # the entities are in the spans only
        spans = sorted((s.text, s.label_) for s in p.spans["dtn"])
        assert sorted((m["text"], m["label"]) for m in section["marks"]
                      if m["row"] == "pred") == spans
        assert list(section["gates"]) == GATE_NAMES
        assert section["gates"]["word_g1"] == pytest.approx(p._.dtn_gates["word_g1"], abs=5.01e-3)
