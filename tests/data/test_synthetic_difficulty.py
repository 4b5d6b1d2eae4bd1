"""The built-in dataset's ``difficulty`` option: "standard" is the dataset as it always was,
"hard" films the same scenes with a noisy sensor."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mpe_psn.data import build_dataset
from mpe_psn.data.synthetic import SyntheticConfig, cache_params, generate_split
from mpe_psn.data.synthetic_difficulty import DIFFICULTIES, resolve_difficulty
from mpe_psn.data.synthetic_source import validate_options

TINY = dict(num_train=6, num_test=4)

#: sha256 of the frames of SyntheticConfig(size=20, T=4, num_train=6, num_test=4)'s test split,
#: taken before the difficulty option existed: the default data must never change by accident.
STANDARD_FRAMES_SHA256 = "95d1bf4a036a91037bec6be5791dbc3ebc84e1c0b356eac539e1806d9db722b1"


def test_the_default_generates_the_same_bytes_as_before():
    split = generate_split(SyntheticConfig(size=20, T=4, **TINY), "test")
    assert hashlib.sha256(split["frames"].tobytes()).hexdigest() == STANDARD_FRAMES_SHA256
    assert split["events"].tolist() == [774, 1172, 939, 627]


def test_standard_is_no_option_at_all(tmp_path):
    plain = build_dataset("synthetic", "test", T=4, size=(20, 20), cache_dir=tmp_path, progress=False, **TINY)
    standard = build_dataset("synthetic", "test", T=4, size=(20, 20), cache_dir=tmp_path, progress=False,
                             difficulty="standard", **TINY)
    assert standard.cache_file == plain.cache_file  # the same cache key ...
    assert standard.generated_seconds is None  # ... so the entry is read, not made again
    assert standard.config == plain.config == SyntheticConfig(size=20, T=4, **TINY)
    assert np.array_equal(standard.frames.numpy(), plain.frames.numpy())
    assert "difficulty" not in cache_params(standard.config, "test")


def test_hard_adds_noise_events_and_keys_its_own_cache(tmp_path):
    plain = build_dataset("synthetic", "test", T=4, size=(20, 20), cache_dir=tmp_path, progress=False, **TINY)
    hard = build_dataset("synthetic", "test", T=4, size=(20, 20), cache_dir=tmp_path, progress=False,
                         difficulty="hard", **TINY)
    assert hard.cache_file != plain.cache_file
    assert hard.config.noise == DIFFICULTIES["hard"]["noise"] == 0.6
    assert hard.config == SyntheticConfig(size=20, T=4, noise=0.6, **TINY)
    # noise adds (0.6 - 0.02) * 20 * 20 * 4 = 928 events per clip on average (Poisson), the scene's stay
    extra = hard.events_per_sample - plain.events_per_sample
    assert extra.mean() == pytest.approx(928, abs=80)  # sd of the mean of 4: about 16
    assert np.array_equal(hard.labels, plain.labels)  # the same scenes, the same classes
    # the same data as the options spelled out: one cache entry
    spelled = build_dataset("synthetic", "test", T=4, size=(20, 20), cache_dir=tmp_path, progress=False,
                            noise=0.6, **TINY)
    assert spelled.cache_file == hard.cache_file and spelled.generated_seconds is None


def test_an_explicit_option_wins_over_the_difficulty():
    assert resolve_difficulty({"difficulty": "hard", "noise": 0.1}) == {"noise": 0.1}
    assert resolve_difficulty({"difficulty": "hard", "seed": 2}) == {"noise": 0.6, "seed": 2}
    assert resolve_difficulty({"num_test": 3}) == {"num_test": 3}


@pytest.mark.parametrize("bad", ["extreme", "", 3, None])
def test_a_bad_difficulty_names_the_option(bad):
    with pytest.raises(ValueError, match=r"synthetic option difficulty must be one of \['standard', 'hard'\]"):
        validate_options({"difficulty": bad})
