import pytest
import torch

from tsgd.distill.synthesis import (
    SynthesisConfig,
    bn_loss,
    bn_statistics,
    synthesize,
    tsgf_weights,
    weighted_step,
)
from tsgd.models import ConvNet3D


def bn_teacher(seed=0):
    torch.manual_seed(seed)
    return ConvNet3D(3, widths=(4, 8, 8), norm="batch", dropout=0.0).eval()


def _synthesize(teacher, x0, labels, cfg, **kw):
    """synthesize with pixels bounded to [-3, 3], a fixed augmentation seed, no progress bar."""
    bounds = (torch.full((3,), -3.0), torch.full((3,), 3.0))
    gen = torch.Generator().manual_seed(0)
    return synthesize(teacher, x0, labels, cfg, bounds=bounds, generator=gen, progress=False, **kw)


def test_bn_loss_is_zero_at_the_running_statistics():
    net = bn_teacher()
    x = torch.randn(4, 4, 3, 32, 32) * 2 + 0.5
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    with bn_statistics(net) as hooks, torch.no_grad():
        # layer by layer, set running stats to the batch stats of that layer's input
        for layer in bns:
            inp: dict[str, torch.Tensor] = {}

            def grab(_m, i, _o, store=inp):
                store["x"] = i[0]

            h = layer.register_forward_hook(grab)
            net(x)
            h.remove()
            layer.running_mean.copy_(inp["x"].mean((0, 2, 3, 4)))
            layer.running_var.copy_(inp["x"].var((0, 2, 3, 4), unbiased=False))
        net(x)
        assert float(bn_loss(hooks)) == pytest.approx(0.0, abs=1e-4)
        net(torch.randn(4, 4, 3, 32, 32))
        assert float(bn_loss(hooks)) > 0.1
        assert float(bn_loss(hooks, 10.0)) > float(bn_loss(hooks, 1.0))


def test_bn_loss_needs_batchnorm():
    with pytest.raises(ValueError, match="BatchNorm"):
        with bn_statistics(ConvNet3D(3, widths=(4, 4, 4))):
            pass


def _one_adam_step(weight, apply):
    torch.manual_seed(0)
    x = torch.zeros(2, 4, 3, 8, 8, requires_grad=True)
    opt = torch.optim.Adam([x], lr=0.1)
    (x * torch.randn_like(x)).sum().backward()
    weighted_step(x, opt, weight, apply)
    return x.detach()


def test_tsgf_update_weighting_really_shrinks_the_adam_step():
    w = torch.ones(2, 4, 1, 8, 8)
    w[..., :4] = 0.2  # low saliency on the left half
    plain = _one_adam_step(None, "update")
    weighted = _one_adam_step(w, "update")
    # Adam's first step has magnitude lr everywhere; W scales it exactly
    assert torch.allclose(weighted[..., 4:], plain[..., 4:])
    assert torch.allclose(weighted[..., :4], 0.2 * plain[..., :4])
    assert plain[..., :4].abs().min() > 0.05


def test_gradient_weighting_is_normalised_away_by_adam():
    # why `update` is the default with Adam: scaling the gradient barely changes the step
    w = torch.full((2, 4, 1, 8, 8), 0.2)
    plain = _one_adam_step(None, "grad")
    scaled = _one_adam_step(w, "grad")
    assert torch.allclose(plain, scaled, atol=1e-4)


def test_gradient_weighting_shrinks_the_sgd_step():
    w = torch.full((1, 2, 1, 4, 4), 0.25)
    steps = []
    for weight in (None, w):
        x = torch.zeros(1, 2, 3, 4, 4, requires_grad=True)
        opt = torch.optim.SGD([x], lr=1.0, momentum=0.9)
        x.sum().backward()
        weighted_step(x, opt, weight, "grad")
        steps.append(x.detach())
    assert torch.allclose(steps[1], 0.25 * steps[0])


def test_tsgf_weights_follow_motion():
    x = torch.zeros(1, 4, 3, 16, 16)
    for t in range(4):
        x[0, t, :, 4:8, 2 + 2 * t : 6 + 2 * t] = 1.0
    w = tsgf_weights(x, 0.2, {"k": 0})
    assert w.shape == (1, 4, 1, 16, 16)
    assert float(w.min()) == pytest.approx(0.2)
    assert float(w[0, :, 0, 4:8].max()) == pytest.approx(1.0, abs=1e-4)
    assert float(w[0, :, 0, 12:].max()) == pytest.approx(0.2)


def test_synthesis_lowers_the_loss_and_moves_salient_pixels_more():
    teacher = bn_teacher()
    torch.manual_seed(1)
    x0 = torch.randn(3, 4, 3, 32, 32) * 0.5
    x0[:, :, :, :, :16] = x0[:, :1, :, :, :16]  # left half static: low saliency
    labels = torch.tensor([0, 1, 2])
    cfg = SynthesisConfig(iterations=30, lr=0.05, bn_weight=0.01, beta=0.1, saliency={"k": 1})
    x, hist = _synthesize(teacher, x0, labels, cfg)
    assert x.shape == x0.shape and not x.requires_grad
    assert hist["loss"][-1] < hist["loss"][0]
    moved = (x - x0).abs()
    assert moved[..., 16:].mean() > 2 * moved[..., :16].mean()
    assert x.min() >= -3.0 and x.max() <= 3.0
    off, _ = _synthesize(teacher, x0, labels, SynthesisConfig(iterations=30, lr=0.05, tsgf=False))
    assert (off - x0).abs()[..., :16].mean() > 2 * moved[..., :16].mean()


def test_tsgf_weights_per_segment_see_no_seam_between_stitched_pieces():
    x = torch.zeros(1, 4, 3, 8, 8)
    x[0, 2:] = 1.0  # two static pieces stitched in time: the jump is a seam, not motion
    seam = tsgf_weights(x, 0.2, {"k": 0})
    assert float(seam[0, 1].max()) == pytest.approx(1.0, abs=1e-4)  # D[t]: from t to t+1
    w = tsgf_weights(x, 0.2, {"k": 0}, segments=2)
    assert torch.allclose(w, torch.full_like(w, 0.2))
    with pytest.raises(ValueError, match="do not split into 3 segments"):
        tsgf_weights(x, 0.2, {"k": 0}, segments=3)


def test_synthesis_through_a_view_scores_the_pieces_and_keeps_the_stored_shape():
    from tsgd.distill.sets import unpack

    teacher = bn_teacher()
    seen_shapes = []
    teacher.register_forward_hook(lambda m, i, o: seen_shapes.append(tuple(i[0].shape)))
    torch.manual_seed(2)
    x0 = torch.randn(2, 4, 3, 16, 16) * 0.5
    labels = torch.tensor([0, 2])
    cfg = SynthesisConfig(iterations=5, lr=0.05, saliency={"k": 1})
    x, hist = _synthesize(teacher, x0, labels, cfg, view=lambda v: unpack(v, 2, 2), segments=2)
    assert x.shape == x0.shape  # the stored (packed) videos are what is optimised
    assert seen_shapes and all(s == (16, 4, 3, 16, 16) for s in seen_shapes)  # 2 x 8 pieces
    assert hist["loss"][-1] < hist["loss"][0] and (x - x0).abs().mean() > 0


def test_mosaic_packs_pieces_into_one_clip_of_the_same_size():
    from tsgd.distill.sets import mosaic

    x = torch.stack([torch.full((2, 3, 8, 8), float(i)) for i in range(8)])  # 8 videos
    packed = mosaic(x, 2)
    assert packed.shape == (2, 2, 3, 8, 8)
    assert packed[0, :, :, :4, :4].unique().tolist() == [0.0]
    assert packed[0, :, :, :4, 4:].unique().tolist() == [1.0]
    assert packed[0, :, :, 4:, :4].unique().tolist() == [2.0]
    assert packed[1, :, :, 4:, 4:].unique().tolist() == [7.0]
    assert torch.equal(mosaic(x, 1), x)
    with pytest.raises(ValueError):
        mosaic(x[:3], 2)


def test_stitch_concatenates_consecutive_clips_in_time():
    from tsgd.distill.sets import stitch

    x = torch.stack([torch.full((2, 3, 4, 4), float(i)) for i in range(4)])  # 4 clips of 2
    out = stitch(x, 2)
    assert out.shape == (2, 4, 3, 4, 4)
    assert out[0, :, 0, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert out[1, :, 0, 0, 0].tolist() == [2.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        stitch(x[:3], 2)


def test_salient_frames_takes_the_most_salient_run():
    import numpy as np

    from tsgd.distill.sets import salient_frames

    s = torch.tensor([[0.0, 0.1, 0.9, 0.8, 0.7, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0, 0, 0, 1]])
    out = salient_frames(s, 3)
    assert out.tolist() == [[2, 3, 4], [0, 1, 2]]
    rng = np.random.default_rng(0)
    rand = salient_frames(s, 3, pick="random", rng=rng)
    assert all(list(r) == list(range(r[0], r[0] + 3)) for r in rand)  # still contiguous runs


def test_drop_static_skips_near_static_frames_before_taking_the_run():
    from tsgd.distill.sets import salient_frames

    # a pause (frames 2-4) between two moving bursts: dropping it joins the bursts
    s = torch.tensor([[0.9, 0.8, 0.01, 0.0, 0.01, 0.7, 0.9, 0.1]])
    plain = salient_frames(s, 4)[0]
    assert float(s[0, plain].min()) < 0.05  # a contiguous run of 4 must include the pause
    kept = salient_frames(s, 4, drop_static=0.5)
    assert kept.tolist() == [[0, 1, 5, 6]]  # every kept frame moves, in time order
    # too few moving frames: the most salient ones, still in time order
    few = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    assert salient_frames(few, 3, drop_static=0.5).tolist() == [[0, 1, 2]]


def test_salient_frames_errors():
    from tsgd.distill.sets import salient_frames

    s = torch.rand(2, 6)
    with pytest.raises(ValueError, match="window length"):
        salient_frames(s, 7)
    with pytest.raises(ValueError, match="needs rng"):
        salient_frames(s, 3, pick="random")
    with pytest.raises(ValueError, match="unknown window pick"):
        salient_frames(s, 3, pick="best")
    with pytest.raises(ValueError, match="drop_static"):
        salient_frames(s, 3, drop_static=-1)


def test_spread_over_groups_keeps_ranking_within_groups():
    import numpy as np

    from tsgd.distill.sets import spread_over_groups

    order = np.array([10, 11, 12, 13, 14])  # best first
    groups = ["a", "a", "b", "a", "c"]
    assert spread_over_groups(order, groups).tolist() == [10, 12, 14, 11, 13]
    assert spread_over_groups(order, [None] * 5).tolist() == order.tolist()


def test_kmeans_finds_separated_clusters_and_best_member_of_each():
    import numpy as np

    from tsgd.distill.sets import best_per_cluster, kmeans

    g = torch.Generator().manual_seed(0)
    x = torch.cat(
        [torch.randn(10, 4, generator=g) * 0.1 + 5, torch.randn(6, 4, generator=g) * 0.1 - 5]
    )
    x = torch.cat([x, torch.randn(3, 4, generator=g) * 0.1])
    assign = kmeans(x, 3, np.random.default_rng(0))
    # the three blobs are three clusters, whatever their ids
    assert len(set(assign[:10])) == len(set(assign[10:16])) == len(set(assign[16:])) == 1
    assert len(set(assign.tolist())) == 3
    score = torch.zeros(19)
    score[[4, 12, 17]] = 1.0
    assert best_per_cluster(assign, score).tolist() == [4, 12, 17]  # largest cluster first
    with pytest.raises(ValueError, match="k=4"):
        kmeans(x[:3], 4, np.random.default_rng(0))


def test_kmeans_keeps_every_cluster_non_empty():
    import numpy as np

    from tsgd.distill.sets import kmeans

    x = torch.zeros(5, 2)  # all rows identical: Lloyd's step would empty all but one centre
    assign = kmeans(x, 5, np.random.default_rng(1))
    assert sorted(assign.tolist()) == [0, 1, 2, 3, 4]


def test_unpack_gives_every_packed_piece_back_as_a_full_size_clip():
    from tsgd.distill.sets import mosaic, stitch, unpack

    # 8 clips of 4 frames (frame value = 10 * clip + time): 2 temporal pieces of 2 frames
    # (frames 0 and 2 of each: a window subsampled by 2) in a 2x2 mosaic -> 1 stored video
    t = torch.arange(4.0)
    clips = torch.stack([(10 * i + t)[:, None, None, None].expand(4, 3, 8, 8) for i in range(8)])
    packed = mosaic(stitch(clips[:, ::2], 2), 2)
    assert packed.shape == (1, 4, 3, 8, 8)
    out = unpack(packed, 2, 2)
    assert out.shape == (8, 4, 3, 8, 8)  # 2 x 2 x 2 pieces, each at full size again
    # packing order comes back; each piece's 2 frames are repeated to span 4 frames
    for i in range(8):
        assert out[i, :, 0, 3, 3].tolist() == [10 * i, 10 * i, 10 * i + 2, 10 * i + 2]
    assert torch.equal(unpack(packed, 1, 1), packed)
    with pytest.raises(ValueError, match="do not hold"):
        unpack(packed, 3, 1)


def _moving_square_clips(n=2, length=6, h=24, w=40, at=30):
    """uint8 [n, length, h, w, 3]: a grey static background; video 0 has a bright 6 px square
    sliding down around column ``at``, video 1 stays still."""
    import numpy as np

    clips = np.full((n, length, h, w, 3), 90, dtype=np.uint8)
    for t in range(length):
        clips[0, t, 2 + 3 * t : 8 + 3 * t, at - 3 : at + 3] = 250
    return clips


def test_salient_crop_boxes_follow_motion_and_keep_the_centre_without_it():
    from types import SimpleNamespace

    import numpy as np

    from tsgd.distill.sets import crop_boxes

    data = SimpleNamespace(clips=_moving_square_clips())
    frames = np.tile(np.arange(4), (2, 1))
    centre = crop_boxes(data, np.arange(2), frames, 16)
    assert centre.tolist() == [[4, 12, 16], [4, 12, 16]]
    boxes = crop_boxes(data, np.arange(2), frames, 16, pick="salient", saliency={"k": 1})
    top, left, side = boxes[0].tolist()
    assert side == 16 and left <= 27 and left + side >= 33  # the square's columns are inside
    assert left > 12  # moved right of the centre, towards the motion
    assert boxes[1].tolist() == [4, 12, 16]  # nothing moves: the centre
    zoom = crop_boxes(data, np.arange(2), frames, 16, pick="salient", scale=0.5)
    assert zoom[:, 2].tolist() == [8, 8] and zoom[0, 1] <= 27 and zoom[0, 1] + 8 >= 33
    with pytest.raises(ValueError, match="crop pick"):
        crop_boxes(data, np.arange(2), frames, 16, pick="corner")
    with pytest.raises(ValueError, match="crop_scale"):
        crop_boxes(data, np.arange(2), frames, 16, scale=2.0)  # 32 px: taller than 24


def test_frames_cut_each_box_and_resize_it_to_the_crop():
    from types import SimpleNamespace

    import numpy as np

    from tsgd.distill.sets import _frames

    clips = _moving_square_clips()
    clips[1, :, :, :20] = 0  # video 1: left half black, right half grey
    data = SimpleNamespace(clips=clips)
    frames = np.tile(np.arange(4), (2, 1))
    mean, std = [0.0] * 3, [1.0] * 3
    boxes = np.array([[0, 24, 16], [4, 0, 8]])  # video 1: an 8 px square of the black half
    x = _frames(data, np.arange(2), frames, 16, mean, std, torch.device("cpu"), boxes)
    assert x.shape == (2, 4, 3, 16, 16)
    raw = torch.from_numpy(clips[0, :4, 0:16, 24:40]).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(x[0], raw)  # same-size box: the pixels themselves
    assert float(x[1].abs().max()) == 0.0  # zoomed into the black half, resized to 16 px
    plain = _frames(data, np.arange(2), frames, 16, mean, std, torch.device("cpu"))
    assert float(plain[1, :, :, :, :8].max()) == 0.0 and float(plain[1, :, :, :, 8:].min()) > 0


def test_window_rule_by_budget():
    from tsgd.distill.sets import resolve_window_pick

    assert resolve_window_pick("random", 0.75, 5, 5) == ("random", 0.75)  # as given
    assert resolve_window_pick("salient", 0.0, 1, 5) == ("salient", 0.0)
    assert resolve_window_pick("by_ipc", 0.75, 1, 5) == ("random", 0.75)  # small budget
    assert resolve_window_pick("by_ipc", 0.75, 5, 5) == ("salient", 0.0)  # from IPC 5 on
    assert resolve_window_pick("by_ipc", 0.75, 10, 5) == ("salient", 0.0)
    with pytest.raises(ValueError, match="window pick"):
        resolve_window_pick("best", 0.75, 1, 5)
    with pytest.raises(ValueError, match="salient_from_ipc"):
        resolve_window_pick("by_ipc", 0.75, 1, 0)
    # room: cached frames / clip frames; salient at every budget from salient_room on
    assert resolve_window_pick("by_ipc", 0.75, 1, 5, 4.0, 4) == ("salient", 0.0)
    assert resolve_window_pick("by_ipc", 0.75, 1, 5, 2.0, 4) == ("random", 0.75)  # short cache
    assert resolve_window_pick("by_ipc", 0.75, 1, 5, 8.0, 0) == ("random", 0.75)  # 0: never
    assert resolve_window_pick("random", 0.75, 1, 5, 8.0, 4) == ("random", 0.75)  # as given
    with pytest.raises(ValueError, match="salient_room"):
        resolve_window_pick("by_ipc", 0.75, 1, 5, 4.0, -1)
