"""Screenshots of the interactive report for the docs, taken with headless Chromium (the same
flags as tests/report/test_interactive.py).

    python scripts/report_screenshots.py STORE [--out DIR] [--docs docs]

Builds the interactive report of STORE into DIR (default: a temporary folder) and writes
docs/report_top.png (the page's top: title, recommendation box, tie group) and
docs/report_pareto.png (the GFLOPs Pareto plot of the first task alone, a frontier point
hovered).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars"]
# show the first GFLOPs Pareto plot alone at the top (its heading kept) and hover a frontier point
FOCUS = """<script>
window.addEventListener('load', function () {
  var g = document.querySelector('[id^="pareto-"][id$="-gflops"]');
  if (!g) return;
  var box = g.parentNode, title = document.createElement('h3');
  title.textContent = 'Pareto frontier (interactive report; hover shows a configuration)';
  Array.prototype.forEach.call(document.body.children, function (el) { el.style.display = 'none'; });
  document.body.prepend(box); document.body.prepend(title);
  box.style.display = ''; title.style.display = '';
  Plotly.Plots.resize(g);
  setTimeout(function () {
    var front = g.data.findIndex(function (t) { return t.name === 'Pareto frontier'; });
    Plotly.Fx.hover(g, [{curveNumber: front, pointNumber: 0}], 'xy');
  }, 300);
});
</script>"""


def shoot(chromium: str, page: Path, png: Path, size: str) -> None:
    subprocess.run([chromium, *FLAGS, "--virtual-time-budget=15000", f"--screenshot={png}",
                    f"--window-size={size}", page.as_uri()], capture_output=True, timeout=180,
                   check=True)
    if not png.is_file():
        raise SystemExit(f"chromium wrote no screenshot {png}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="report folder (default: temporary)")
    ap.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args(argv)
    chromium = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                     if shutil.which(b)), None)
    if chromium is None:
        print("error: no chromium binary (apt-get install chromium)", file=sys.stderr)
        return 2
    from speechbudget.report import build_report

    out = args.out or Path(tempfile.mkdtemp(prefix="speechbudget-report-"))
    index = build_report(args.store, out, n_bootstrap=args.bootstrap, interactive=True)
    args.docs.mkdir(parents=True, exist_ok=True)
    shoot(chromium, index, args.docs / "report_top.png", "1280,1000")
    focus = out / "focus_pareto.html"
    focus.write_text(index.read_text().replace("</body>", FOCUS + "</body>"))
    shoot(chromium, focus, args.docs / "report_pareto.png", "1280,530")
    print(f"{args.docs / 'report_top.png'}\n{args.docs / 'report_pareto.png'}\nreport: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
