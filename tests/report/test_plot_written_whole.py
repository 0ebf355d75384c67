"""A report's PNG plots were saved straight into report/plots/ (matplotlib writing the file as
it draws): a rebuild interrupted while saving (Ctrl-C in `report` or `demo`) left a truncated
PNG in place of the good older one that summary.md names. A plot is now drawn into memory and
written whole (`errors.write_atomic`), so an interruption leaves the older file."""
from __future__ import annotations

import matplotlib.figure
import matplotlib.pyplot as plt
import pytest

from speechbudget.report import plots


def test_an_interrupted_save_leaves_the_older_plot(tmp_path, monkeypatch):
    path = tmp_path / "plots" / "pareto.png"
    fig = plt.figure()
    plt.plot([0, 1], [1, 0])
    plots._save(fig, path)
    older = path.read_bytes()
    assert older.startswith(b"\x89PNG")
    real = matplotlib.figure.Figure.savefig

    def interrupted(self, fname, *args, **kwargs):
        """Half a PNG written where matplotlib was told to write, then Ctrl-C."""
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG\r\n\x1a\n half")
        else:
            open(fname, "wb").write(b"\x89PNG\r\n\x1a\n half")
        raise KeyboardInterrupt
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted)
    fig = plt.figure()
    with pytest.raises(KeyboardInterrupt):
        plots._save(fig, path)
    assert path.read_bytes() == older
    assert [p.name for p in path.parent.iterdir()] == ["pareto.png"]   # no temporary left
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", real)
    assert not plt.get_fignums()     # the figure is closed all the same
