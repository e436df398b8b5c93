import math

import pytest
import torch

from tsgd.saliency import (
    best_window,
    frame_differences,
    frame_saliency,
    saliency_map,
    saliency_weight,
    smoothing_window,
    temporal_smooth,
)


def moving_square(frames=8, size=32, side=4, step=2, row=10, static_bg=None):
    """A bright square moving right by `step` px per frame on a (textured) static background."""
    g = torch.Generator().manual_seed(0)
    bg = static_bg if static_bg is not None else torch.rand(3, size, size, generator=g) * 0.3
    x = bg.expand(frames, 3, size, size).clone()
    for t in range(frames):
        c = 2 + t * step
        x[t, :, row : row + side, c : c + side] = 1.0
    return x.unsqueeze(0)


def test_static_video_has_zero_saliency():
    x = torch.rand(1, 1, 3, 16, 16).expand(2, 6, 3, 16, 16).clone()
    s = saliency_map(x)
    assert s.shape == (2, 6, 16, 16)
    assert torch.count_nonzero(s) == 0
    assert torch.count_nonzero(frame_saliency(s)) == 0


def test_moving_square_saliency_lies_on_its_path():
    x = moving_square()
    s = saliency_map(x, k=0)
    on_path = torch.zeros(32, 32, dtype=torch.bool)
    on_path[10:14, 2 : 2 + 7 * 2 + 4] = True
    total = s.sum(dim=(0, 1))
    assert total[~on_path].abs().max() == 0  # nothing off the square's path
    assert total[on_path].sum() > 0
    assert float(s.max()) == pytest.approx(1.0, abs=1e-5)


def test_differences_are_defined_as_mean_abs_change_with_edge_repeat():
    x = torch.zeros(1, 3, 2, 1, 1)
    x[0, 1] = torch.tensor([1.0, 3.0]).view(2, 1, 1)  # frame 1: channel values 1 and 3
    d = frame_differences(x)
    # D_0 = mean(|1-0|, |3-0|) = 2, D_1 = 2, last frame repeats D_1
    assert d.view(-1).tolist() == [2.0, 2.0, 2.0]


def test_smoothing_window_is_normalised_and_shaped():
    assert smoothing_window(2).tolist() == pytest.approx([0.2] * 5)
    g = smoothing_window(2, "gaussian", sigma=1.0)
    assert float(g.sum()) == pytest.approx(1.0)
    assert g[2] > g[1] > g[0] and g[1] == pytest.approx(float(g[3]))
    assert float(g[1] / g[2]) == pytest.approx(math.exp(-0.5))
    with pytest.raises(ValueError):
        smoothing_window(-1)
    with pytest.raises(ValueError):
        smoothing_window(1, "triangle")


def test_temporal_smoothing_uses_edge_padding():
    d = torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0]).view(1, 5, 1, 1)
    s = temporal_smooth(d, k=1).view(-1)
    assert s.tolist() == pytest.approx([0.0, 1.0, 1.0, 1.0, 0.0])
    edge = temporal_smooth(torch.tensor([3.0, 0.0, 0.0]).view(1, 3, 1, 1), k=1).view(-1)
    assert edge.tolist() == pytest.approx([2.0, 1.0, 0.0])  # (3 + 3 + 0) / 3 at the edge
    assert torch.equal(temporal_smooth(d, k=0), d)


def test_epsilon_divides_as_defined():
    x = moving_square()
    raw = temporal_smooth(frame_differences(x), 1)
    peak = float(raw.max())
    for eps in (0.0, 1e-6, 0.5):
        s = saliency_map(x, k=1, eps=eps)
        assert float(s.max()) == pytest.approx(peak / (peak + eps), rel=1e-5)
    assert torch.all(saliency_map(x, eps=0.5) <= 1.0)


def test_weight_has_a_floor():
    s = torch.tensor([0.0, 0.5, 1.0])
    assert saliency_weight(s, 0.2).tolist() == pytest.approx([0.2, 0.6, 1.0])
    with pytest.raises(ValueError):
        saliency_weight(s, 0.0)


def test_best_window_finds_the_motion():
    x = moving_square(frames=12)
    x[:, :6] = x[:, :1]  # the first six frames stand still
    s = frame_saliency(saliency_map(x, k=0))
    start = int(best_window(s, 4)[0])
    assert start >= 5
    with pytest.raises(ValueError):
        best_window(s, 13)


def test_median_compensation_removes_a_global_change():
    x = moving_square(frames=6)
    flicker = x.clone()
    flicker[:, 1::2] += 0.2  # every other frame is brighter everywhere (camera gain)
    plain = frame_differences(flicker).mean()
    comp = frame_differences(flicker, "median")
    assert comp.mean() < 0.2 * plain
    assert comp.amax() > 0.5  # the square's motion survives


def test_shift_compensation_cancels_camera_pan():
    g = torch.Generator().manual_seed(1)
    scene = torch.rand(3, 40, 60, generator=g)
    pan = torch.stack([scene[:, 4:36, t : t + 32] for t in range(0, 12, 2)]).unsqueeze(0)
    assert frame_differences(pan).mean() > 0.1
    comp = frame_differences(pan, "shift", max_shift=3)
    assert comp.abs().max() < 1e-6
    with pytest.raises(ValueError, match="motion_compensation"):
        frame_differences(pan, "optical-flow")
