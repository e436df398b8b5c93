import numpy as np
import pytest

from tsgd.data.sampling import cache_indices, window_starts


def test_long_video_uses_gap_and_centres_window():
    idx, gap, padded = cache_indices(100, 16, 4)
    span = 15 * 4 + 1
    start = (100 - span) // 2
    assert idx.dtype == np.int64
    assert idx.tolist() == list(range(start, start + span, 4))
    assert (gap, padded) == (4, 0)


def test_exact_fit_uses_gap():
    idx, gap, padded = cache_indices(64, 16, 4)  # n == frames * gap
    assert gap == 4 and padded == 0
    assert idx[0] == (64 - 61) // 2 and idx[-1] == idx[0] + 60


def test_short_video_uses_length_div_frames():
    # 47 < 16 * 4 -> gap = 47 // 16 = 2, span 31, start (47 - 31) // 2 = 8
    idx, gap, padded = cache_indices(47, 16, 4)
    assert gap == 2 and padded == 0
    assert idx.tolist() == list(range(8, 8 + 31, 2))
    assert idx.max() < 47


def test_video_between_frames_and_2frames_gets_gap_one_centred():
    idx, gap, padded = cache_indices(20, 16, 4)
    assert gap == 1 and padded == 0
    assert idx.tolist() == list(range(2, 18))


def test_video_shorter_than_frames_is_padded_with_last_frame():
    idx, gap, padded = cache_indices(5, 8, 4)
    assert idx.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert gap == 1 and padded == 3


def test_single_frame_video():
    idx, gap, padded = cache_indices(1, 3, 2)
    assert idx.tolist() == [0, 0, 0] and padded == 2


@pytest.mark.parametrize("n", range(1, 80))
def test_indices_always_in_range(n):
    idx, gap, padded = cache_indices(n, 16, 4)
    assert len(idx) == 16
    assert idx.min() >= 0 and idx.max() <= n - 1
    assert np.all(np.diff(idx) >= 0)
    assert padded == max(0, 16 - n)


@pytest.mark.parametrize(
    ("n", "frames", "gap"), [(0, 16, 4), (10, 0, 4), (10, 16, 0), (-3, 16, 1), (10, 2.5, 1)]
)
def test_cache_indices_errors(n, frames, gap):
    with pytest.raises(ValueError):
        cache_indices(n, frames, gap)


def test_window_starts_range_and_determinism():
    s1 = window_starts(32, 16, np.random.default_rng(3), 500)
    s2 = window_starts(32, 16, np.random.default_rng(3), 500)
    assert s1.dtype == np.int64 and s1.shape == (500,)
    assert np.array_equal(s1, s2)
    assert s1.min() == 0 and s1.max() == 16  # both ends reachable
    assert window_starts(16, 16, np.random.default_rng(0), 4).tolist() == [0, 0, 0, 0]


def test_window_starts_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="longer"):
        window_starts(8, 16, rng, 1)
    with pytest.raises(ValueError):
        window_starts(8, 0, rng, 1)
    with pytest.raises(ValueError):
        window_starts(8, 4, rng, -1)
