"""Cache entries: keyed by every parameter, never stale, never half-written."""

from __future__ import annotations

import numpy as np
import pytest

from mpe_psn.data import cache
from mpe_psn.data.cache import cache_key, cache_path, load_entry, save_entry

PARAMS = {"dataset": "d", "T": 8, "size": [48, 48], "split_by": "number"}


def test_round_trip_and_keys(tmp_path):
    path = cache_path(tmp_path, "d", PARAMS)
    save_entry(path, {"frames": np.arange(6.0).reshape(2, 3)}, PARAMS)
    got = load_entry(path, PARAMS)
    np.testing.assert_array_equal(got["frames"], np.arange(6.0).reshape(2, 3))
    for key, value in (("T", 4), ("size", [64, 64]), ("split_by", "time")):
        changed = {**PARAMS, key: value}
        assert cache_key(changed) != cache_key(PARAMS)
        assert load_entry(cache_path(tmp_path, "d", changed), changed) is None
        assert load_entry(path, changed) is None  # even read from the old file: parameters are compared


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    path = cache_path(tmp_path, "d", PARAMS)

    class Crash(RuntimeError):
        pass

    def crash_midway(handle, data):  # writes part of the file, then dies
        handle.write(data[: len(data) // 2])
        raise Crash("power cut")

    import mpe_psn.utils.atomic as atomic

    original = atomic.atomic_write_bytes

    def partial_write(target, data):
        with atomic.atomic_open(target, "wb") as handle:
            crash_midway(handle, data)

    monkeypatch.setattr(cache, "atomic_write_bytes", partial_write)
    with pytest.raises(Crash):
        save_entry(path, {"frames": np.ones((100, 100))}, PARAMS)
    assert not path.exists() and list(path.parent.iterdir()) == []
    assert load_entry(path, PARAMS) is None
    monkeypatch.setattr(cache, "atomic_write_bytes", original)


def test_corrupt_entry_is_reported_not_used(tmp_path):
    path = cache_path(tmp_path, "d", PARAMS)
    save_entry(path, {"frames": np.ones(1000)}, PARAMS)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.warns(UserWarning, match="unreadable"):
        assert load_entry(path, PARAMS) is None


def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MPE_PSN_CACHE", str(tmp_path / "x"))
    assert cache.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("MPE_PSN_CACHE")
    assert cache.default_cache_dir().parts[-2:] == (".cache", "mpe-psn")


def test_entry_with_lying_header_is_refused(tmp_path):
    """A header claiming a huge array must not be trusted (it would allocate before failing)."""
    import zipfile

    path = cache_path(tmp_path, "d", PARAMS)
    save_entry(path, {"frames": np.ones((4, 4))}, PARAMS)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["frames.npy"] = members["frames.npy"].replace(b"(4, 4)", b"(400000000, 400000000)".ljust(6))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.warns(UserWarning, match="claims .* bytes"):
        assert load_entry(path, PARAMS) is None
