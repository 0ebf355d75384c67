"""Hostile text in every stored string the report shows (item ids, references, hypotheses, SER
labels, failure messages, the machine, the dataset, racing evidence, the store's path) never
becomes markup: the page's tags and attributes are the report's own, no <script> carries stored
text, and summary.md keeps it inert. Configuration and model names cannot carry text (Config
canonicalises the model to a registry name), so they are not varied here."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics, ItemResult

HOSTILE = ['<script>XSS1()</script>', '"><img src=x onerror=XSS2()>',
           "</script><script>XSS3()</script>", "' onmouseover='XSS4()", "javascript:XSS5()",
           "<!-- XSS6 -->", "$\\XSSmath$", "%{customdata[1]}", "\u2028XSS7\u2029",
           "<a href='javascript:XSS8()'>x</a>", "<b>XSSb</b>", "]]><svg onload=XSS9()>"]
EVIL = " ".join(HOSTILE)
TAGS = {"html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "h3", "p",
        "section", "div", "table", "thead", "tbody", "tr", "th", "td", "img", "b", "details",
        "summary", "span", "del", "ins", "label", "input"}


def hostile_store(root: Path) -> Path:
    from speechbudget.sweep.store import ResultsStore

    folder = root / 'st<script>XSSdir()</script>"q\''
    folder.mkdir(parents=True)
    path = folder / "r<b>XSSdb</b>.db"
    st = ResultsStore(path)
    run = st.start_run({"name": "hostile"}, {"cpu": EVIL, "device": "cpu</script>",
                                             "hostname": EVIL})
    for w, g in ((10.0, 10.0), (20.0, 20.0), (30.0, 30.0)):
        c = Config(task="asr", model="tiny.en", window=w)
        st.register_config(c, g, {"dataset": EVIL}, run)
        items = [ItemResult(f"id{i}{h}", True,
                            prediction=f"hello {h} world" if w != 10 else f"{h} hello",
                            reference=f"hello {h} world", errors=(i + int(w)) % 3, n_ref=3,
                            audio_s=4.0) for i, h in enumerate(HOSTILE)]
        items.append(ItemResult("failed" + HOSTILE[1], False, error=EVIL))
        st.commit_shard(c.key, "s0", items, run)
        e = sum(r.errors for r in items if r.ok) / sum(r.n_ref for r in items if r.ok)
        st.set_metrics(c.key, ConfigMetrics(c.key, "asr", "wer", e, e * .8, e * 1.2,
                                            len(items) - 1, 1, gflops=g, rtf=g / 100,
                                            peak_mem_mb=100 + g), run)
    c = Config(task="asr", model="base", window=30.0)       # stopped by racing: its evidence
    st.register_config(c, 80.0, {"dataset": "d"}, run)
    st.commit_shard(c.key, "s0", [ItemResult("id0" + HOSTILE[0], True, prediction="x",
                                             reference="y", errors=1, n_ref=1)], run)
    st.set_config_status(c.key, "eliminated", EVIL)
    for k in range(4):                                       # SER: labels are free text
        c = Config(task="ser", model="wav2vec2-base", window=float(k + 1))
        st.register_config(c, 30.0 * (k + 1), {"dataset": EVIL}, run)
        items = [ItemResult(f"clip{i}{HOSTILE[i]}", True, prediction=HOSTILE[(i + k) % 4],
                            reference=HOSTILE[i % 4], errors=int((i + k) % 4 != i % 4), n_ref=1,
                            audio_s=2.0) for i in range(8)]
        st.commit_shard(c.key, "s0", items, run)
        ua = 1 - sum(r.errors for r in items) / 8
        st.set_metrics(c.key, ConfigMetrics(c.key, "ser", "ua", ua, n_items=8,
                                            gflops=30.0 * (k + 1)), run)
    st.finish_run(run)
    st.close()
    return path


class Page(HTMLParser):
    """Every start tag and attribute, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.bad: list[tuple] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            self.bad.append(("tag", tag, attrs))
        for k, v in attrs:
            if k.startswith("on") or (k in ("href", "src", "action", "formaction") and not (
                    v or "").startswith("data:image/png;base64,")):
                self.bad.append(("attribute", tag, k, v))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return hostile_store(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("interactive", [False, True])
def test_stored_text_never_becomes_markup(store, tmp_path, interactive):
    from speechbudget.report.build import build_report
    from speechbudget.report.interactive import available
    if interactive and not available():
        pytest.skip("plotly not installed")
    html = Path(build_report(store, tmp_path / "r", n_bootstrap=0,
                             interactive=interactive)).read_text()
    page = Page()
    page.feed(html)
    assert page.bad == []
    assert len(page.scripts) == (6 if interactive else 1)   # table JS (+ plotly, 4 figures)
    assert not [s for s in page.scripts if "XSS" in s]
    # the strings are on the page, as text: each hostile marker at least once
    for marker in ("XSS1", "XSS2", "XSS3", "XSS4", "XSS8", "XSS9", "XSSdir", "XSSdb"):
        assert marker in html, marker
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "<script" not in md and "<img" not in md and "<svg" not in md and "<b>" not in md
    assert "$\\\\XSSmath$" not in md and "\\$\\\\XSSmath\\$" in md   # maths: the $ escaped


def test_md_text_escapes_the_dollar_of_github_maths():
    from speechbudget.report.markdown import md_text
    # before: '$x$' passed through, which GitHub renders as maths
    assert md_text("costs $5 or $\\alpha$") == "costs \\$5 or \\$\\\\alpha\\$"
