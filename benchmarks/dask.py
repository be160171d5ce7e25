"""Fitting ``y ~ x + (x | g)`` on Dask from Parquet, against the time to read the columns.

For each size the rows are written once to Parquet (one file per partition, under
``--dir``), then in the same run, on the same dask.distributed LocalCluster:

* ``read``: reading the three columns once (``ddf[["y", "x", "g"]].sum()``, the least
  work that touches every value), the floor any out-of-core fit pays;
* ``fit``: ``mixnb.lmm("y ~ x + (x | g)", ddf)``: the per-partition cross-products, the
  tree reduction, the optimisation in O(groups), the SEs and Satterthwaite df;
* ``in-memory``: for the sizes that fit (``--in-memory-max``), pandas reads the Parquet and
  ``mixnb.lmm`` fits it (the same estimates; see tests/test_dask.py for parity);

and, on one partition in this process, where the per-partition time goes (encoding,
group codes, bincounts). Peak memory is the largest resident set of this process and the
workers together, sampled every 0.1 s.

Run (the big size once, on a quiet machine, under ``nice``)::

    nice python benchmarks/dask.py --rows 1e7 --groups 1e5
    nice python benchmarks/dask.py --rows 1e8 --groups 1e6 --in-memory-max 0
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would hide the
# dask package: take the folder off
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import mixnb  # noqa: E402
from mixnb.estimation.crossproducts import chunk_statistics, group_codes  # noqa: E402
from mixnb.estimation.dask_fit import dask_crossproducts  # noqa: E402
from mixnb.estimation.encoding import learn_encoding  # noqa: E402

FORMULA = "y ~ x + (x | g)"


def write_parquet(folder: Path, rows: int, groups: int, partition_rows: int, seed: int = 1):
    """Simulated rows of ``y ~ x + (x | g)``, one Parquet file per partition."""
    if folder.exists() and (folder / "_done").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    b0, b1 = rng.normal(size=groups), 0.5 * rng.normal(size=groups)
    for k, start in enumerate(range(0, rows, partition_rows)):
        n = min(partition_rows, rows - start)
        g = rng.integers(0, groups, n)
        x = rng.normal(size=n)
        y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
        table = pa.table({"y": y, "x": x, "g": g})
        pq.write_table(table, folder / f"part-{k:04d}.parquet", compression="snappy")
    (folder / "_done").touch()


class PeakMemory:
    """The largest resident set of this process and its children, sampled."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def profile_partition(path: Path) -> dict[str, float]:
    """Seconds per step on one partition, in this process."""
    t0 = time.perf_counter()
    frame = pd.read_parquet(path)
    t1 = time.perf_counter()
    encoding = learn_encoding(FORMULA, frame.head(1000), {})
    t2 = time.perf_counter()
    chunk = encoding.encode(frame)
    t3 = time.perf_counter()
    codes, keys, _ = group_codes(chunk.groups)
    t4 = time.perf_counter()
    for _ in range(5):  # the five distinct products of (1, x) with (1, x, y)
        np.bincount(codes, weights=chunk.y * chunk.y, minlength=len(keys))
    t5 = time.perf_counter()
    chunk_statistics(frame, encoding)
    t6 = time.perf_counter()
    formulaic = encoding.fixed.spec.get_model_matrix(frame)
    t7 = time.perf_counter()
    del formulaic
    return {
        "rows": len(frame),
        "read": t1 - t0,
        "learn": t2 - t1,
        "encode": t3 - t2,
        "codes": t4 - t3,
        "bincounts": t5 - t4,
        "chunk_statistics": t6 - t5,
        "formulaic_X_alone": t7 - t6,
    }


def run(args) -> None:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    rows, groups = int(float(args.rows)), int(float(args.groups))
    partition_rows = int(float(args.partition_rows))
    folder = Path(args.dir) / f"rows{rows}_groups{groups}_part{partition_rows}"
    t = time.perf_counter()
    write_parquet(folder, rows, groups, partition_rows)
    print(f"data: {folder} ({time.perf_counter() - t:.1f} s to write or find)", flush=True)
    files = sorted(folder.glob("*.parquet"))
    print("one partition:", profile_partition(files[0]), flush=True)
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster):
        ddf = dd.read_parquet(str(folder))
        with PeakMemory() as mem:
            t = time.perf_counter()
            ddf[["y", "x", "g"]].sum().compute()
            read = time.perf_counter() - t
        read_peak = mem.peak
        with PeakMemory() as mem, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # what mixnb.lmm(FORMULA, ddf) does, in its two steps
            t = time.perf_counter()
            crossproducts, _, _ = dask_crossproducts(FORMULA, ddf)
            summed = time.perf_counter() - t
            fit = mixnb.from_crossproducts(crossproducts, formula=FORMULA)
            fitted = time.perf_counter() - t
        fit_peak = mem.peak
    table = [
        ("read the columns once (Dask)", read, read_peak),
        ("mixnb.lmm on Dask: cross-products, summed", summed, fit_peak),
        ("mixnb.lmm on Dask: fit from them (optimum, SEs, df, BLUPs)", fitted - summed, fit_peak),
        ("mixnb.lmm on Dask: total", fitted, fit_peak),
    ]
    if rows <= float(args.in_memory_max):
        with PeakMemory() as mem, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            frame = pd.read_parquet(folder)
            ref = mixnb.lmm(FORMULA, frame)
            memory = time.perf_counter() - t
        table.append(("pandas read + mixnb.lmm in memory", memory, mem.peak))
        columns = ["estimate", "std_error", "df"]
        a, b = fit.fixed_effects[columns].to_numpy(), ref.fixed_effects[columns].to_numpy()
        print("parity, fixed effects' estimate/SE/df (max relative):", np.max(np.abs(a - b) / b))
    print(
        f"\n{rows:.0e} rows, {groups:.0e} groups, {len(files)} partitions, "
        f"{args.workers} worker processes"
    )
    print("| step | seconds | x read | peak memory (GB) |\n|---|---|---|---|")
    for name, seconds, peak in table:
        print(f"| {name} | {seconds:.1f} | {seconds / read:.2f} | {peak / 1e9:.2f} |")
    print(fit.fixed_effects.to_string())
    print(fit.variance_components.to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--groups", default="1e5")
    parser.add_argument("--partition-rows", default="5e6")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-memory-max", default="2e7")
    parser.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp") + "/mixnb-dask-bench")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
