"""The trials the control room watches, described by one TOML file (`MK_TRIALS`; the shipped default
when unset): display, contract fields, states, wall, kiosk, privacy, KPIs, areas, alert defaults and
simulator profile of each trial. `trials_in_force(path)` is what every process reads.

Modules: `model` (the frozen dataclasses and the vocabularies the file chooses from), `parse` (TOML
to model, every error naming file, line and key), `lines` (where keys are in the text).
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from importlib import resources
from pathlib import Path

from dashboard.core.trials.model import COMMON_FIELDS, Field, Kpi, Trial, Trials
from dashboard.core.trials.parse import DEFAULT_TRIALS_PATH, TrialsError, parse_trials

# The shipped trials plus Redway delivery robots, added by configuration alone: what the demo runs.
DEMO_TRIALS_PATH = DEFAULT_TRIALS_PATH.with_name("with_redway.toml")

__all__ = [
    "ASSETS_DIR",
    "COMMON_FIELDS",
    "DEFAULT_TRIALS_PATH",
    "DEMO_TRIALS_PATH",
    "Field",
    "Kpi",
    "Trial",
    "Trials",
    "TrialsError",
    "default_trials",
    "load_trials",
    "parse_trials",
    "trials_in_force",
]

# Where a file named in a trials file is looked for when it is not beside the trials file.
ASSETS_DIR = Path(str(resources.files("assets")))


def trials_path(configured: str) -> Path:
    """The configured trials file, or the shipped default when none is configured."""
    return Path(configured) if configured else DEFAULT_TRIALS_PATH


def load_trials(path: str | Path | None = None) -> Trials:
    """Read and validate a trials file (default: the shipped one); `TrialsError` names file and line."""
    path = Path(path) if path else DEFAULT_TRIALS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrialsError(f"cannot read the trials file: {exc}", None, str(path)) from None
    return parse_trials(text, path=str(path), search=(path.resolve().parent, ASSETS_DIR))


def with_extra(trials: Trials, extra: tuple[str, ...]) -> Trials:
    """Add bare trials (id only) for `MK_EXTRA_TRIALS`: accepted and stored, shown with defaults."""
    added = {t: Trial(id=t, name=t) for t in extra if t not in trials.trials}
    if not added:
        return trials
    return replace(trials, trials={**trials.trials, **added}, added=trials.added + tuple(added))


_cache: dict[tuple, Trials] = {}
_cache_lock = threading.Lock()


def trials_in_force(path: str | Path | None = "", extra: tuple[str, ...] = ()) -> Trials:
    """The trials of `path` (shipped default when empty) plus `extra`, read once per file version."""
    resolved = Path(path) if path else DEFAULT_TRIALS_PATH
    signature: tuple[str, int | None, int | None, tuple[str, ...]]
    try:
        st = os.stat(resolved)
        signature = (str(resolved), st.st_mtime_ns, st.st_size, tuple(extra))
    except OSError:
        signature = (str(resolved), None, None, tuple(extra))
    with _cache_lock:
        found = _cache.get(signature)
    if found is None:
        found = with_extra(load_trials(resolved), tuple(extra))
        with _cache_lock:
            if len(_cache) > 16:
                _cache.clear()
            _cache[signature] = found
    return found


def default_trials() -> Trials:
    """The shipped trials (StreetCAV, Drone Port, MarK)."""
    return trials_in_force("")
