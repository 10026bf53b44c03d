"""Render people in parallel: one job per person, results in the order of the jobs.

Every renderer draws a person's randomness from ``default_rng([seed, row index])``, so the
output does not depend on the number of processes (tested per renderer)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm


def map_people(
    func: Callable[[Any], Any],
    jobs: Sequence[Any],
    threads: int,
    desc: str,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> list:
    """``[func(job) for job in jobs]``, in ``threads`` processes when ``threads`` > 1 (chunks
    of at most 64 jobs; ``initializer(*initargs)`` once per process, or once here when serial).
    A progress bar shows only when stderr is a terminal."""
    if threads == 1 or len(jobs) < 2:
        if initializer is not None:
            initializer(*initargs)
        return [func(j) for j in tqdm(jobs, desc=desc, disable=None)]
    chunk = max(1, min(64, len(jobs) // (4 * threads)))
    with ProcessPoolExecutor(threads, initializer=initializer, initargs=initargs) as pool:
        return list(
            tqdm(pool.map(func, jobs, chunksize=chunk), total=len(jobs), desc=desc, disable=None)
        )


def person_jobs(
    ids: Sequence[str],
    people: pd.DataFrame,
    factors: np.ndarray,
    cfg: dict,
    seed: int,
    out_dir: Path,
) -> list[tuple]:
    """One job per person for a renderer's ``_render_person``: (row index, sample id, male,
    BMI, the person's factor values, the modality's config, seed, output folder)."""
    return [
        (i, sid, str(people["sex"].iloc[i]) == "M", float(people["bmi"].iloc[i]), factors[i], cfg,
         int(seed), out_dir)
        for i, sid in enumerate(ids)
    ]  # fmt: skip
