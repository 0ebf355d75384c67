"""Realistic results made in the test: Whisper tiny.en/base x windows x strides (ASR) and
wav2vec2-base x clip durations (SER), with plausible WER/UA, GFLOPs, RTF and memory."""
from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest

from speechbudget.axes import Config
from speechbudget.records import ConfigMetrics

WER_30S = {"tiny.en": 0.056, "base": 0.045}
GFLOPS_30S = {"tiny.en": 37.0, "base": 78.0}
MEM = {"tiny.en": 180.0, "base": 310.0}


def asr_results() -> list[tuple[Config, ConfigMetrics]]:
    out = []
    for model, w, s in itertools.product(["tiny.en", "base"], [10.0, 20.0, 30.0], [1, 2, 4]):
        c = Config(task="asr", model=model, window=w, stride=s, stride_at="output" if s == 1 else 2)
        wer = WER_30S[model] * (1 + 0.06 * (30 / w - 1)) * (1 + 0.25 * (s - 1) ** 1.1)
        g = GFLOPS_30S[model] * (w / 30) * s ** -0.7 + 3.0
        m = ConfigMetrics(c.key, "asr", "wer", round(wer, 5), ci_low=round(wer * 0.8, 5),
                          ci_high=round(wer * 1.2, 5), n_items=40, gflops=round(g, 3),
                          gflops_per_audio_s=round(g / 12, 3), rtf=round(g / 900, 5),
                          rtfx=round(900 / g, 2), peak_mem_mb=MEM[model] + 2 * w / s)
        out.append((c, m))
    return out


def ser_results() -> list[tuple[Config, ConfigMetrics]]:
    out = []
    for d in (1.0, 2.0, 3.0, 4.0):
        c = Config(task="ser", model="wav2vec2-base", window=d)
        ua = 0.30 + 0.25 * (1 - 2 ** -(d / 1.5))
        m = ConfigMetrics(c.key, "ser", "ua", round(ua, 4), ci_low=ua - 0.05, ci_high=ua + 0.05,
                          n_items=120, gflops=round(35.0 * d, 2), rtf=0.01 * d, peak_mem_mb=400.0)
        out.append((c, m))
    return out


@pytest.fixture(scope="module")
def realistic_results():
    return asr_results() + ser_results()


CHROMIUM = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture
def headless():
    """`headless(*args, **run_kw)`: headless Chromium with the flags every report test uses
    (offline, no sandbox); the test is skipped where no Chromium is installed (CI installs it)."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary (apt-get install chromium; CI installs it)")

    def run(*args: str, **kw):
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *args], **kw)
    return run


def md_table(md: str, first_header: str) -> list[list[str]]:
    """The rows (cells) of the Markdown table whose header row starts with `first_header`,
    without the |---| rule; escaped pipes and characters (\\|) read back as written."""
    import re
    from html import unescape
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(first_header))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]
        rows.append([unescape(re.sub(r"\\(.)", r"\1", c)) for c in cells])
    return [rows[0]] + rows[2:]


def html_table(html: str, marker: str) -> list[list[str]]:
    """The rows (header and body cells, as text) of the first table after `marker` in a page."""
    import re
    from html import unescape
    part = html[html.index(marker):]
    part = part[part.index("<table"):part.index("</table>")]
    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, flags=re.S)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", part, flags=re.S)]
