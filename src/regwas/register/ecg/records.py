"""Reading WFDB ECG records: lead names matched to the standard 12 leads, errors that
name the record."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from regwas.errors import InputError

log = logging.getLogger(__name__)


STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip


# --------------------------------------------------------------------------- reading records


def _canonical(name: str) -> str:
    """Normalise a lead name ('Lead I (Einthoven)', 'AVR', 'v1') for matching."""
    s = re.sub(r"\(.*?\)", "", str(name)).strip().upper()
    s = re.sub(r"^LEAD\s*", "", s)
    return s.replace(" ", "")


_STANDARD_KEYS = [_canonical(n) for n in STANDARD_LEADS]


def record_paths(path: str | Path) -> Path:
    """Record path without extension (a trailing .hea/.dat is dropped)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".hea", ".dat") else p


def read_record(path: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """Read a WFDB record -> (leads x samples float32 mV, fs, lead names).

    When the record holds the 12 standard leads (names matched loosely) they come back in the
    standard order I, II, III, aVR, aVL, aVF, V1-V6. A missing, truncated or unreadable record,
    or one holding invalid (NaN) samples, raises InputError naming the file.
    """
    import wfdb

    rec_path = record_paths(path)
    header = rec_path.parent / f"{rec_path.name}.hea"
    if not header.exists():
        raise InputError(f"{header}: WFDB header does not exist")
    try:
        with np.errstate(all="ignore"):
            rec = wfdb.rdrecord(str(rec_path))
    except Exception as err:  # wfdb raises many types for corrupt files
        raise InputError(f"{rec_path}: cannot be read as a WFDB record: {err}") from err
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] == 0:
        raise InputError(f"{rec_path}: WFDB record holds no signal samples")
    if rec.sig_len and sig.shape[0] != rec.sig_len:
        raise InputError(
            f"{rec_path}: holds {sig.shape[0]} samples, its header says {rec.sig_len} (truncated)"
        )
    bad = ~np.isfinite(sig)
    if bad.any():
        raise InputError(f"{rec_path}: {int(bad.sum())} invalid (NaN) samples")
    names = [str(n) for n in rec.sig_name]
    keys = [_canonical(n) for n in names]
    units = [str(u).strip().lower() for u in (rec.units or ["mv"] * len(names))]
    scale = np.array([{"uv": 1e-3, "µv": 1e-3, "v": 1e3}.get(u, 1.0) for u in units])
    sig = sig * scale[None, :]
    if set(_STANDARD_KEYS) <= set(keys):
        order = [keys.index(k) for k in _STANDARD_KEYS]
        sig, names = sig[:, order], list(STANDARD_LEADS)
    return np.ascontiguousarray(sig.T, dtype=np.float32), float(rec.fs), names
