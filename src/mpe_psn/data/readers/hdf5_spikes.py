"""Reader of the Heidelberg spike files (SHD / SSC ``*.h5``): spike lists as CSR arrays, no torch.

Published layout (one file per split)::

    spikes/times   [N] variable-length floats   spike times in seconds (float16 in the release)
    spikes/units   [N] variable-length uint16   channel of each spike, 0..699
    labels         [N] uint16                   class index
    extra/keys     [K] strings                  class names (optional; only read for a check)
    extra/speaker, extra/meta_info/...          not read

:func:`read_hdf5_spikes` returns every sample's spikes as flat arrays (``times`` float32,
``units`` uint16, ``offsets`` int64 [N+1], ``labels`` int64) after checking them: a problem
of the whole file (missing key, wrong type or shape, different sample counts, a storage
trick) raises :class:`RecordingError` naming the file and the key; a problem of one sample
(times and units of different lengths, a negative or non-finite time, a unit outside
``[0, channels)``, a label outside ``[0, num_classes)``, an unreadable row) does too, or with
``skip_bad=True`` leaves that sample out and is listed in ``problems``.

Sizes read from the file are never trusted (what is bounded, and how):

- samples: at most one per 4 bytes of file (``N <= file size // 4``), so the labels and the
  row index stay within a few times the file size;
- chunks: a chunked dataset's uncompressed chunk may hold at most 16 MiB (a compressed
  "bomb" cannot expand further); filters must be available in HDF5; external raw-data files,
  virtual datasets and links to other files are refused (they would read other files);
- spike payloads: rows are read one at a time, and the spikes read so far may not take more
  bytes (at the file's own item sizes) than the whole file holds: variable-length data lives
  uncompressed in the file's heap, so a genuine file never exceeds this. A single row can
  claim no more than the heap object it points to (recent HDF5, such as the 2.0 that h5py
  3.16 ships, checks each sequence's stored length against its heap object).
- the HDF5 library itself: it can loop forever, or crash, on some damaged files (its
  metadata parsers are not hardened). By default the file is therefore read in a child
  process (``python`` with only NumPy and h5py imported) whose address space is capped
  (Unix: ``1 GiB + 8 x file size``) and which must report progress at least every
  ``stall_timeout`` seconds (default 120): a hang, a crash or running out of that memory
  becomes a :class:`RecordingError` naming the file, never a stuck or killed training run.

This module imports nothing from the package at import time, so the child process can load it
by file path without importing torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["SpikeSplit", "read_hdf5_spikes", "require_h5py", "check_split", "READER_VERSION", "MAX_CHUNK_BYTES"]

#: Bumped whenever the arrays this reader returns change (cache entries of older versions are not reused).
READER_VERSION = 1
#: Largest uncompressed chunk of a chunked dataset this reader will decompress.
MAX_CHUNK_BYTES = 16 << 20
#: Seconds the reader process may go without reporting progress before it is stopped.
STALL_TIMEOUT = 120.0
_BYTES_PER_SAMPLE = 4  # at most file_size // 4 samples
_BUILTIN_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset"}


@dataclasses.dataclass
class SpikeSplit:
    """All spikes of one file: sample ``i`` owns ``times[offsets[i]:offsets[i+1]]`` (and units)."""

    times: np.ndarray  # float32 [S], seconds
    units: np.ndarray  # uint16 [S]
    offsets: np.ndarray  # int64 [N+1]
    labels: np.ndarray  # int64 [N]
    skipped: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)  # one line per skipped sample
    keys: tuple[str, ...] | None = None  # extra/keys, when present and readable


class _Bad(Exception):
    """The file cannot be used (internal; the public functions raise RecordingError)."""


class _Problem(Exception):
    """One sample cannot be used (internal: turned into an error or a skip)."""


def _recording_error(message: str) -> Exception:
    # imported here: the reader process loads this module by path, without the package (see above)
    from mpe_psn.data.readers.errors import RecordingError

    return RecordingError(message)


def require_h5py():
    """The ``h5py`` module, or an ImportError that says how to install it."""
    try:
        import h5py  # imported on first use: ~30 ms, and every mpe-psn command imports this module
    except ImportError as error:
        raise ImportError(f"reading the SHD / SSC HDF5 files needs h5py: pip install h5py ({error})") from error
    return h5py


def check_split(split: SpikeSplit, channels: int, num_classes: int) -> bool:
    """Whether ``split``'s arrays are consistent (dtypes, offsets, ranges); for data read back from disk."""
    try:
        times, units, offsets, labels = split.times, split.units, split.offsets, split.labels
        return bool(
            times.dtype == np.float32 and units.dtype == np.uint16 and offsets.dtype == labels.dtype == np.int64
            and times.ndim == units.ndim == offsets.ndim == labels.ndim == 1 and times.shape == units.shape
            and offsets.shape == (labels.shape[0] + 1,) and offsets[0] == 0 and offsets[-1] == times.shape[0]
            and np.all(np.diff(offsets) >= 0) and np.all(np.isfinite(times)) and np.all(times >= 0)
            and (units.size == 0 or int(units.max()) < channels)
            and (labels.size == 0 or (labels.min() >= 0 and labels.max() < num_classes))
            and split.skipped == len(split.problems) and all(isinstance(p, str) for p in split.problems)
        )
    except (AttributeError, TypeError, ValueError, IndexError):
        return False


# -- reading (runs in the child process by default) ----------------------------------------
def _hard_link(h5py, group, key: str, path: Path):
    """``group[key]`` reached through hard links only (soft/external links are refused)."""
    node = group
    walked: list[str] = []
    for part in key.split("/"):
        if not isinstance(node, h5py.Group):
            raise _Bad(f"{path}: key '{'/'.join(walked)}' is a dataset, expected a group holding '{key}'")
        walked.append(part)
        link = node.get(part, getlink=True)
        if link is None:
            raise _Bad(f"{path}: missing key '{'/'.join(walked)}' (the SHD/SSC layout has spikes/times, "
                       "spikes/units and labels)")
        if not isinstance(link, h5py.HardLink):
            raise _Bad(f"{path}: key '{'/'.join(walked)}' is a {type(link).__name__}, not stored in the file "
                       "(links are refused)")
        node = node[part]
    return node


def _check_storage(h5py, ds, key: str, path: Path) -> None:
    """Refuse external/virtual storage, unavailable filters and oversized chunks."""
    if not isinstance(ds, h5py.Dataset):
        raise _Bad(f"{path}: key '{key}' is a group, expected a dataset")
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() == h5py.h5d.VIRTUAL or dcpl.get_external_count() > 0:
        raise _Bad(f"{path}: key '{key}' keeps its data outside the file (virtual or external storage)")
    for i in range(dcpl.get_nfilters()):
        code, _, _, name = dcpl.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            label = _BUILTIN_FILTERS.get(code) or (name.decode(errors="replace") if isinstance(name, bytes) else name)
            raise _Bad(f"{path}: key '{key}' is compressed with HDF5 filter {code} ({label}), which is not "
                       "available here")
    if ds.chunks is not None:
        element = max(int(ds.id.get_type().get_size()), 1)
        chunk_bytes = int(np.prod(ds.chunks, dtype=np.float64)) * element
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise _Bad(f"{path}: key '{key}' has chunks of {chunk_bytes} bytes (limit {MAX_CHUNK_BYTES})")


def _one_d(ds, key: str, path: Path, max_rows: int) -> int:
    if ds.ndim != 1:
        raise _Bad(f"{path}: key '{key}' has shape {ds.shape}, expected one entry per sample [N]")
    n = int(ds.shape[0])
    if n > max_rows:
        raise _Bad(f"{path}: key '{key}' claims {n} samples, more than a file of its size can hold "
                   f"(at most {max_rows}: one per {_BYTES_PER_SAMPLE} bytes)")
    return n


def _vlen_size(h5py, ds, key: str, path: Path, kinds: str, what: str) -> int:
    """The size in the file of one element of a variable-length dataset (checked to be ``kinds``)."""
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is None or np.dtype(base).kind not in kinds:
        raise _Bad(f"{path}: key '{key}' has type {ds.dtype}, expected variable-length arrays of {what}")
    return max(int(ds.id.get_type().get_super().get_size()), 1)


def _open_datasets(h5py, f, path: Path, max_rows: int):
    """The checked times/units datasets, the labels, and the spike item sizes in the file."""
    times_ds = _hard_link(h5py, f, "spikes/times", path)
    units_ds = _hard_link(h5py, f, "spikes/units", path)
    labels_ds = _hard_link(h5py, f, "labels", path)
    for key, ds in (("spikes/times", times_ds), ("spikes/units", units_ds), ("labels", labels_ds)):
        _check_storage(h5py, ds, key, path)
    n = _one_d(labels_ds, "labels", path, max_rows)
    for key, ds in (("spikes/times", times_ds), ("spikes/units", units_ds)):
        rows = _one_d(ds, key, path, max_rows)
        if rows != n:
            raise _Bad(f"{path}: key '{key}' holds {rows} samples but 'labels' holds {n}")
    if labels_ds.dtype.kind not in "iu":
        raise _Bad(f"{path}: key 'labels' has type {labels_ds.dtype}, expected integers")
    t_size = _vlen_size(h5py, times_ds, "spikes/times", path, "f", "floats (seconds)")
    u_size = _vlen_size(h5py, units_ds, "spikes/units", path, "iu", "integers (channels)")
    try:
        labels = np.asarray(labels_ds[()], dtype=np.int64).reshape(n)
    except (OSError, ValueError, TypeError) as error:
        raise _Bad(f"{path}: key 'labels' cannot be read ({error})") from error
    return times_ds, units_ds, labels, t_size, u_size


def _read_keys(h5py, f, num_classes: int) -> tuple[str, ...] | None:
    """``extra/keys`` as strings, or None when absent or not a short list of strings."""
    try:
        if not isinstance(f.get("extra", getlink=True), h5py.HardLink) or not isinstance(f["extra"], h5py.Group):
            return None
        if not isinstance(f["extra"].get("keys", getlink=True), h5py.HardLink):
            return None
        ds = f["extra/keys"]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.shape[0] > 4 * num_classes + 16:
            return None
        dcpl = ds.id.get_create_plist()
        if dcpl.get_layout() == h5py.h5d.VIRTUAL or dcpl.get_external_count() > 0:
            return None
        if ds.dtype.kind not in "SUO" or (ds.dtype.kind == "O" and h5py.check_string_dtype(ds.dtype) is None):
            return None
        return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in ds[()])
    except (OSError, RuntimeError, ValueError, TypeError, KeyError):
        return None


class _RowReader:
    """Reads row ``i`` of the times and units datasets, one row at a time, within a byte budget."""

    def __init__(self, h5py, path: Path, datasets, *, budget: int) -> None:
        self.path, self.budget, self.used = path, budget, 0
        self._parts: list[tuple[str, Any, Any, Any, np.ndarray, int]] = []
        for key, (ds, item_size) in zip(("spikes/times", "spikes/units"), datasets):
            out = np.empty((1,), dtype=ds.dtype)
            self._parts.append((key, ds.id, ds.id.get_space(), h5py.h5t.py_create(ds.dtype), out, item_size))
        self._mspace = h5py.h5s.create_simple((1,))

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        arrays = []
        for key, dsid, fspace, mtype, out, item_size in self._parts:
            if self.used > self.budget:
                raise _Bad(f"{self.path}: key '{key}': the samples up to {i} claim more spike data than the file "
                           f"holds ({self.used} > {self.budget} bytes); the file is corrupt")
            try:
                fspace.select_hyperslab((i,), (1,))
                dsid.read(self._mspace, fspace, out, mtype)
            except (OSError, RuntimeError, ValueError, TypeError, MemoryError) as error:
                raise _Problem(f"{key}[{i}] cannot be read ({error})") from None
            value = np.asarray(out[0])
            out[0] = None
            if value.ndim != 1:
                raise _Problem(f"{key}[{i}] has shape {value.shape}, expected a list of spikes")
            self.used += value.shape[0] * item_size
            arrays.append(value)
        return arrays[0], arrays[1]


def _check_sample(times: np.ndarray, units: np.ndarray, label: int, i: int, channels: int,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``i`` as (float32 times, uint16 units), or :class:`_Problem` naming the key."""
    if times.shape[0] != units.shape[0]:
        raise _Problem(f"spikes/times[{i}] has {times.shape[0]} spikes but spikes/units[{i}] has {units.shape[0]}")
    t32 = times.astype(np.float32)
    bad = ~np.isfinite(t32) | (t32 < 0)
    if bad.any():
        raise _Problem(f"spikes/times[{i}]: time {times[np.flatnonzero(bad)[0]]!r} is negative or not finite")
    wide = units.astype(np.int64)
    bad = (wide < 0) | (wide >= channels)
    if bad.any():
        raise _Problem(f"spikes/units[{i}]: unit {int(wide[np.flatnonzero(bad)[0]])} is not in 0..{channels - 1}")
    if not 0 <= label < num_classes:
        raise _Problem(f"labels[{i}]: label {label} is not in 0..{num_classes - 1}")
    return t32, wide.astype(np.uint16)


def _read(path: Path, channels: int, num_classes: int, skip_bad: bool,
          report: Callable[[int, int], None] | None = None) -> SpikeSplit:
    """The reading itself (raises :class:`_Bad`); ``report(done, total)`` is called as rows are read."""
    h5py = require_h5py()
    try:
        file_size = os.stat(path).st_size
    except OSError as error:
        raise _Bad(f"{path}: cannot read the file ({error})") from error
    max_rows = file_size // _BYTES_PER_SAMPLE
    try:
        f = h5py.File(path, "r", locking=False, rdcc_nbytes=2 * MAX_CHUNK_BYTES)
    except (OSError, RuntimeError, ValueError) as error:
        raise _Bad(f"{path}: not a readable HDF5 file ({error})") from error
    with f:
        try:
            times_ds, units_ds, labels, t_size, u_size = _open_datasets(h5py, f, path, max_rows)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
            raise _Bad(f"{path}: the file's structure cannot be read ({error})") from error
        n = labels.shape[0]
        keys = _read_keys(h5py, f, num_classes)
        reader = _RowReader(h5py, path, ((times_ds, t_size), (units_ds, u_size)), budget=file_size)
        times_parts, units_parts, counts, kept_labels, problems = [], [], [], [], []
        last = time.monotonic()
        if report is not None:
            report(0, n)
        for i in range(n):
            if report is not None and time.monotonic() - last > 0.2:
                report(i, n)
                last = time.monotonic()
            try:
                t, u = reader.row(i)
                t, u = _check_sample(t, u, int(labels[i]), i, channels, num_classes)
            except _Problem as problem:
                if not skip_bad:
                    raise _Bad(f"{path}: {problem}") from None
                problems.append(f"{path}: {problem}")
                continue
            times_parts.append(t)
            units_parts.append(u)
            counts.append(t.shape[0])
            kept_labels.append(labels[i])
        if report is not None:
            report(n, n)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(np.asarray(counts, dtype=np.int64), out=offsets[1:])
    return SpikeSplit(
        times=np.concatenate(times_parts).astype(np.float32, copy=False) if times_parts else np.zeros(0, np.float32),
        units=np.concatenate(units_parts).astype(np.uint16, copy=False) if units_parts else np.zeros(0, np.uint16),
        offsets=offsets, labels=np.asarray(kept_labels, dtype=np.int64).reshape(-1), skipped=len(problems),
        problems=problems, keys=keys)


# -- the child process -----------------------------------------------------------------------
_CHILD = """
import importlib.util, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]  # not the working folder: only the installed numpy and h5py
spec = importlib.util.spec_from_file_location("_mpe_psn_hdf5_reader", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
sys.exit(module._child_main(sys.argv[2:]))
"""


def _child_main(argv: list[str]) -> int:
    """Entry point of the reader process: read, write ``arrays.npz`` + ``result.json`` to ``out_dir``."""
    path, out_dir, channels, num_classes, skip_bad, memory = argv
    out = Path(out_dir)
    require_h5py()  # loaded before the cap, which is for what the file makes the reader allocate
    if int(memory) > 0:
        try:
            import resource  # Unix only

            resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
        except (ImportError, ValueError, OSError):
            pass

    def report(done: int, total: int) -> None:
        print(f"rows {done} {total}", flush=True)

    try:
        split = _read(Path(path), int(channels), int(num_classes), skip_bad == "1", report)
        np.savez(out / "arrays.npz", times=split.times, units=split.units, offsets=split.offsets, labels=split.labels)
        result: dict[str, Any] = {"problems": split.problems, "keys": split.keys}
    except _Bad as error:
        result = {"error": str(error)}
    except MemoryError:
        result = {"error": f"{path}: reading it needs more than the {int(memory)} bytes of memory allowed (by "
                           "default 1 GiB + 8 x the file size); the file is corrupt or not a spike file"}
    (out / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


def _pump(stream, lines: "queue.Queue[str | None]") -> None:
    for line in iter(stream.readline, b""):
        lines.put(line.decode("utf-8", "replace"))
    lines.put(None)


def _read_isolated(path: Path, channels: int, num_classes: int, skip_bad: bool, progress: bool, desc: str,
                   stall_timeout: float, work_dir: "str | os.PathLike[str] | None", memory: int | None) -> SpikeSplit:
    if memory is None:
        memory = (1 << 30) + 8 * os.stat(path).st_size
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mpe-psn-hdf5-", dir=work_dir) as tmp:
        out = Path(tmp)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        command = [sys.executable, "-c", _CHILD, str(Path(__file__).resolve()), str(path), tmp, str(channels),
                   str(num_classes), "1" if skip_bad else "0", str(memory)]
        bar = None
        with open(out / "stderr.txt", "wb") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                       env=env)
            lines: "queue.Queue[str | None]" = queue.Queue()
            threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
            try:
                while True:
                    try:
                        line = lines.get(timeout=stall_timeout)
                    except queue.Empty:
                        raise _recording_error(
                            f"{path}: reading made no progress for {stall_timeout:g} s and was stopped; the file is "
                            "probably damaged (the HDF5 library can loop forever on some corrupt files)") from None
                    if line is None:
                        break
                    parts = line.split()
                    if progress and len(parts) == 3 and parts[0] == "rows":
                        if bar is None:
                            from tqdm import tqdm  # imported here: the reader process imports NumPy and h5py only

                            bar = tqdm(total=int(parts[2]), desc=desc, unit="sample", leave=False)
                        bar.update(int(parts[1]) - bar.n)
            finally:
                if bar is not None:
                    bar.close()
                if process.poll() is None:
                    process.kill()
                process.wait()
                process.stdout.close()
        result_file = out / "result.json"
        if process.returncode != 0 or not result_file.is_file():
            tail = (out / "stderr.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            how = f"signal {-process.returncode}" if process.returncode < 0 else f"exit status {process.returncode}"
            raise _recording_error(f"{path}: the reader process failed ({how}); the file is probably damaged (the "
                                   "HDF5 library can crash on damaged files, or when it runs out of the "
                                   f"{memory} bytes the reader may use){': ' + ' | '.join(tail) if tail else ''}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
        if "error" in result:
            raise _recording_error(str(result["error"]))
        with np.load(out / "arrays.npz", allow_pickle=False) as arrays:
            split = SpikeSplit(arrays["times"], arrays["units"], arrays["offsets"], arrays["labels"],
                               skipped=len(result["problems"]), problems=list(result["problems"]),
                               keys=tuple(result["keys"]) if result["keys"] is not None else None)
    if not check_split(split, channels, num_classes):
        raise _recording_error(f"{path}: the reader process returned inconsistent arrays")
    return split


def read_hdf5_spikes(
    path: "str | os.PathLike[str]",
    *,
    channels: int,
    num_classes: int,
    skip_bad: bool = False,
    progress: bool = False,
    desc: str | None = None,
    isolate: bool = True,
    stall_timeout: float = STALL_TIMEOUT,
    work_dir: "str | os.PathLike[str] | None" = None,
    memory_limit: int | None = None,
) -> SpikeSplit:
    """Every sample of one SHD/SSC file as checked CSR arrays (see the module docstring).

    Raises :class:`RecordingError` naming the file (and the key) for any problem of the file,
    and for a bad sample unless ``skip_bad`` (then it is skipped and listed in ``problems``).
    ``isolate`` reads in a child process that must report progress every ``stall_timeout``
    seconds and whose address space is capped at ``memory_limit`` bytes (Unix; default 1 GiB
    + 8 x the file size); its arrays pass through a temporary folder in ``work_dir`` (default:
    the system's). ``progress`` shows a tqdm bar labelled ``desc``.
    """
    path = Path(path)
    if not 1 <= channels <= 1 << 16:
        raise ValueError(f"channels must be in 1..65536, got {channels}")
    if not path.is_file():
        raise _recording_error(f"{path}: no such file")
    desc = desc or f"reading {path.name}"
    if isolate and sys.executable:
        require_h5py()  # a missing h5py is reported here, not as a failed child
        return _read_isolated(path, channels, num_classes, skip_bad, progress, desc, stall_timeout, work_dir,
                              memory_limit)
    bar = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if progress and bar is None:
            from tqdm import tqdm  # imported here: the reader process imports NumPy and h5py only

            bar = tqdm(total=total, desc=desc, unit="sample", leave=False)
        if bar is not None:
            bar.update(done - bar.n)

    try:
        return _read(path, channels, num_classes, skip_bad, report)
    except _Bad as error:
        raise _recording_error(str(error)) from None
    finally:
        if bar is not None:
            bar.close()
