import math

import pytest
import torch

from tsgd.data.transforms import (
    center_crop,
    gather_windows,
    mix_clips,
    random_resized_crop_flip,
    saliency_centers,
    to_float_clips,
    to_uint8_clips,
)
from tsgd.engine import OptimConfig, evaluate_clips, train_classifier
from tsgd.evaluate.students import collapse_reason
from tsgd.models import ConvNet3D


def test_uint8_round_trip():
    raw = torch.randint(0, 256, (2, 3, 5, 6, 3), dtype=torch.uint8)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    x = to_float_clips(raw, mean, std)
    assert x.shape == (2, 3, 3, 5, 6)
    assert torch.equal(to_uint8_clips(x, mean, std), raw)


def test_crop_is_identical_across_frames_and_differentiable():
    x = torch.rand(3, 1, 1, 16, 16).expand(3, 4, 3, 16, 16).clone().requires_grad_(True)
    out = random_resized_crop_flip(x, 8, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 4, 3, 8, 8)
    assert torch.allclose(out[:, 0], out[:, 3])  # same transform for every frame
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_full_scale_crop_without_flip_is_identity():
    x = torch.rand(2, 2, 3, 8, 8)
    out = random_resized_crop_flip(x, 8, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0)
    assert torch.allclose(out, x, atol=1e-5)
    flipped = random_resized_crop_flip(x, 8, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(flipped, x.flip(-1), atol=1e-5)


def test_saliency_centers_follow_the_map():
    sal = torch.zeros(50, 10, 10)
    sal[:, 7, 2] = 1.0
    c = saliency_centers(sal, torch.Generator().manual_seed(0))
    assert torch.allclose(c[:, 0], torch.full((50,), (2 * 7 + 1) / 10 - 1))
    assert torch.allclose(c[:, 1], torch.full((50,), (2 * 2 + 1) / 10 - 1))


def test_windows_and_crops():
    clips = torch.arange(2 * 6).view(2, 6, 1, 1, 1).expand(2, 6, 4, 4, 3)
    w = gather_windows(clips, torch.tensor([1, 3]), 3)
    assert w[:, :, 0, 0, 0].tolist() == [[1, 2, 3], [9, 10, 11]]
    with pytest.raises(ValueError):
        gather_windows(clips, torch.tensor([4, 0]), 3)
    assert center_crop(torch.zeros(1, 10, 12), 4).shape == (1, 4, 4)


def _toy_task():
    # class 0: bright square moves right; class 1: moves left (only motion differs)
    g = torch.Generator().manual_seed(0)
    n = 16
    clips = (torch.rand(n, 6, 16, 16, 3, generator=g) * 60).to(torch.uint8)
    labels = torch.arange(n) % 2
    for i in range(n):
        for t in range(6):
            c = 3 + 2 * t if labels[i] == 0 else 13 - 2 * t
            clips[i, t, 6:10, c - 1 : c + 2] = 255
    return clips, labels


def _fit_toy(x, labels, **kw):
    """A small ConvNet3D trained 40 epochs on the toy task's clips ``x`` (long enough to fit
    them); ``kw`` goes to :func:`train_classifier`."""
    net = ConvNet3D(2, widths=(8, 8, 8), dropout=0.0)
    res = train_classifier(
        net,
        labels,
        lambda idx: x[idx],
        OptimConfig(40, 8, 0.01, "adamw", weight_decay=0.0, schedule="constant"),
        generator=torch.Generator().manual_seed(0),
        progress=False,
        **kw,
    )
    return net, res


def test_training_learns_motion_and_evaluation_scores_it():
    torch.manual_seed(0)
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)
    net, res = _fit_toy(x, labels)
    assert not res.diverged and res.history[-1]["acc"] == 1.0
    ev = evaluate_clips(
        net,
        clips,
        labels,
        frames=6,
        crop=16,
        mean=[0.2] * 3,
        std=[0.3] * 3,
        passes=2,
        generator=torch.Generator().manual_seed(0),
        num_classes=2,
    )
    assert ev["top1"] == 1.0 and len(ev["top1_per_pass"]) == 2
    assert sum(map(sum, ev["confusion"])) == 2 * 16


def test_a_set_smaller_than_the_batch_trains_alike_at_any_larger_batch():
    # why select-batch5-cpu.md's random IPC-5 subsets (45 clips) score the same at batch 64
    # and 256: one step an epoch over the whole shuffled set either way; a smaller batch
    # takes more steps and ends elsewhere
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)

    def fit(batch):
        torch.manual_seed(0)
        net = ConvNet3D(2, widths=(8, 8, 8), dropout=0.0)
        res = train_classifier(
            net,
            labels,
            lambda idx: x[idx],
            OptimConfig(3, batch, 0.01, "adamw", weight_decay=0.0, schedule="cosine"),
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )
        return net.state_dict(), res.history

    whole, h_whole = fit(len(labels))
    larger, h_larger = fit(4 * len(labels))
    half, _ = fit(len(labels) // 2)
    assert h_whole == h_larger
    assert all(torch.equal(whole[k], larger[k]) for k in whole)
    assert not all(torch.equal(whole[k], half[k]) for k in whole)


def test_divergence_is_detected():
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3) * 1e30
    net = ConvNet3D(2, widths=(4, 4, 4))
    res = train_classifier(
        net,
        labels,
        lambda idx: x[idx],
        OptimConfig(3, 8, 1e6),
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert res.diverged and math.isnan(res.final_loss)


def test_collapse_reasons():
    assert collapse_reason(True, 1.0, 0.9, 6).startswith("diverged")
    assert "chance" in collapse_reason(False, 0.17, 0.16, 6)
    assert collapse_reason(False, 1.0, 0.16, 6) == ""


def _seq_and_grouped(cfg, seeds, x_of_seed, labels, **kw):
    """Train one ConvNet3D per seed one by one, and the same models grouped (``mix``: a
    kind of :func:`mix_clips` applied to each model's batches, from its own generator)."""
    from tsgd.engine import train_classifiers_grouped

    kind = kw.pop("mix", None)

    def mix_of_seed(seed):
        if kind is None:
            return None
        g = torch.Generator().manual_seed(100 + seed)
        return lambda xb, yb: mix_clips(xb, yb, 2, kind, g)

    def make(seed):
        torch.manual_seed(seed)
        return ConvNet3D(2, widths=(4, 8, 8), dropout=0.0, norm=kw.get("norm", "none"))

    seq = [make(s) for s in seeds]
    seq_res = [
        train_classifier(
            m,
            labels,
            lambda idx, s=s: x_of_seed(s)[idx],
            cfg,
            generator=torch.Generator().manual_seed(s),
            mix=mix_of_seed(s),
            progress=False,
        )
        for m, s in zip(seq, seeds, strict=True)
    ]
    grouped = [make(s) for s in seeds]
    grp_res = train_classifiers_grouped(
        grouped,
        labels,
        [lambda idx, s=s: x_of_seed(s)[idx] for s in seeds],
        cfg,
        generators=[torch.Generator().manual_seed(s) for s in seeds],
        mixes=None if kind is None else [mix_of_seed(s) for s in seeds],
        progress=False,
        **{k: v for k, v in kw.items() if k != "norm"},
    )
    return seq, seq_res, grouped, grp_res


@pytest.mark.parametrize(("opt", "mix"), [("adamw", None), ("sgd", None), ("adamw", "cutmix")])
def test_grouped_training_equals_training_one_by_one(opt, mix):
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)
    cfg = OptimConfig(4, 6, 0.01, opt, weight_decay=5e-4, schedule="cosine")
    # (no InstanceNorm here: it gives the conv biases an exactly-zero gradient, which Adam
    # turns into steps of float noise that differ between any two convolution kernels)
    seq, seq_res, grouped, grp_res = _seq_and_grouped(
        cfg, [0, 1, 2], lambda s: x + 0.1 * s, labels, mix=mix
    )
    for a, b, ra, rb in zip(seq, grouped, seq_res, grp_res, strict=True):
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.allclose(pa, pb, atol=1e-4, rtol=1e-3), name
        assert [h["acc"] for h in ra.history] == [h["acc"] for h in rb.history]
        assert [h["loss"] for h in ra.history] == pytest.approx(
            [h["loss"] for h in rb.history], rel=1e-3
        )
    # different seeds really trained different models
    assert not torch.allclose(grouped[0].classifier.weight, grouped[1].classifier.weight)


def test_grouped_training_isolates_a_diverging_model_and_resumes(tmp_path):
    from tsgd.engine import train_classifiers_grouped

    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)
    cfg = OptimConfig(3, 8, 0.01, "adamw", weight_decay=0.0, schedule="constant")
    blow = {1: float("inf")}  # seed 1 sees infinite inputs: its loss is non-finite
    seq, seq_res, grouped, grp_res = _seq_and_grouped(
        cfg, [0, 1], lambda s: x * blow.get(s, 1.0), labels
    )
    assert [r.diverged for r in grp_res] == [False, True]
    for pa, pb in zip(seq[0].parameters(), grouped[0].parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-4, rtol=1e-3)  # seed 0 unaffected
    # interrupted after epoch 2 of 3 and resumed: the same result as uninterrupted
    ck = tmp_path / "g.ckpt"
    longer = OptimConfig(3, 8, 0.01, "adamw", weight_decay=0.0, schedule="constant")

    def run(epochs_cfg, models):
        return train_classifiers_grouped(
            models,
            labels,
            [lambda idx: x[idx], lambda idx: (x + 0.2)[idx]],
            epochs_cfg,
            generators=[torch.Generator().manual_seed(s) for s in (0, 1)],
            progress=False,
            checkpoint=ck,
            checkpoint_every=1,
        )

    def fresh():
        out = []
        for s in (0, 1):
            torch.manual_seed(s)
            out.append(ConvNet3D(2, widths=(4, 8, 8), dropout=0.0))
        return out

    straight = fresh()
    run(longer, straight)
    ck.unlink()
    first = fresh()
    run(OptimConfig(2, 8, 0.01, "adamw", weight_decay=0.0, schedule="constant"), first)
    # pretend the run was killed after epoch 2: a new run with 3 epochs resumes from there
    import safetensors  # noqa: F401  (the checkpoint is a safetensors file)

    resumed = fresh()
    res = run(longer, resumed)
    assert len(res[0].history) == 3
    for a, b in zip(straight, resumed, strict=True):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.allclose(pa, pb, atol=1e-5)


def test_grouped_training_refuses_batchnorm():
    from tsgd.engine import train_classifiers_grouped

    clips, labels = _toy_task()
    with pytest.raises(ValueError, match="BatchNorm"):
        train_classifiers_grouped(
            [ConvNet3D(2, widths=(4, 4, 4), norm="batch")],
            labels,
            [lambda idx: clips[idx].float()],
            OptimConfig(1, 8, 0.01),
            generators=[torch.Generator()],
            progress=False,
        )


def _dtype_recording_loss(seen):
    from tsgd.engine import hard_loss

    def loss(logits, y, x):
        seen.append(logits.dtype)
        return hard_loss(logits, y, x)

    return loss


class _Linear(torch.nn.Module):
    """A video classifier without Conv3d (bf16 Conv3d is unreliable on a CPU)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6 * 3 * 16 * 16, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_bf16_precision_trains_under_autocast_with_float32_weights(monkeypatch):
    from tsgd import engine

    # bf16 is for CUDA GPUs; let it run on this CPU to check the plumbing
    monkeypatch.setattr(engine, "BF16_DEVICES", frozenset({"cpu"}))
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)
    seen = {"fp32": [], "bf16": []}
    for precision in seen:
        torch.manual_seed(0)
        net = _Linear()
        cfg = OptimConfig(20, 8, 0.01, "adamw", weight_decay=0.0, precision=precision)
        res = engine.train_classifier(
            net,
            labels,
            lambda idx: x[idx],
            cfg,
            generator=torch.Generator().manual_seed(0),
            loss_fn=_dtype_recording_loss(seen[precision]),
            progress=False,
        )
        assert not res.diverged and res.history[-1]["acc"] == 1.0  # it still fits the set
        assert all(p.dtype == torch.float32 for p in net.parameters())
    assert set(seen["fp32"]) == {torch.float32}
    assert set(seen["bf16"]) == {torch.bfloat16}
    # autocast does not reach into the vmapped forward: grouped training refuses bf16
    with pytest.raises(ValueError, match="one by one"):
        engine.train_classifiers_grouped(
            [_Linear(), _Linear()],
            labels,
            [lambda idx: x[idx]] * 2,
            OptimConfig(1, 8, 0.01, "adamw", precision="bf16"),
            generators=[torch.Generator().manual_seed(s) for s in (0, 1)],
            progress=False,
        )


@pytest.mark.parametrize(
    ("precision", "match"), [("fp16", "unknown precision"), ("bf16", "needs a CUDA GPU")]
)
def test_bad_precision_fails_before_training(precision, match):
    clips, labels = _toy_task()
    calls = []
    with pytest.raises(ValueError, match=match):
        train_classifier(
            _Linear(),
            labels,
            lambda idx: calls.append(idx) or clips[idx].float(),
            OptimConfig(1, 8, 0.01, precision=precision),
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )
    assert calls == []


def test_soft_loss_mixes_in_the_ground_truth():
    import torch.nn.functional as F

    from tsgd.engine import soft_loss

    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g)
    teacher = torch.nn.Linear(4, 3)
    logits = torch.randn(6, 3, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    kl = soft_loss(teacher, 4.0)(logits, labels, x)
    ce = F.cross_entropy(logits, labels)
    # w = 0 is the teacher alone, exactly; w = 1 the class labels alone; between, the blend
    assert torch.equal(soft_loss(teacher, 4.0, 0.0)(logits, labels, x), kl)
    assert torch.allclose(soft_loss(teacher, 4.0, 1.0)(logits, labels, x), ce)
    assert torch.allclose(soft_loss(teacher, 4.0, 0.25)(logits, labels, x), 0.75 * kl + 0.25 * ce)
    # the student's own labels matter only when w > 0
    other = (labels + 1) % 3
    assert torch.equal(soft_loss(teacher, 4.0)(logits, other, x), kl)
    assert not torch.allclose(
        soft_loss(teacher, 4.0, 0.5)(logits, other, x),
        soft_loss(teacher, 4.0, 0.5)(logits, labels, x),
    )
    with pytest.raises(ValueError, match="hard_weight"):
        soft_loss(teacher, 4.0, 1.5)


def test_soft_loss_from_an_ensemble_targets_the_teachers_mean_probability():
    import torch.nn.functional as F

    from tsgd.engine import soft_loss

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, generator=g)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    logits = torch.randn(5, 3, generator=g)
    labels = torch.zeros(5, dtype=torch.long)
    tau = 2.0
    # a list of one teacher is that teacher
    assert torch.allclose(
        soft_loss([a], tau)(logits, labels, x), soft_loss(a, tau)(logits, labels, x)
    )
    with torch.no_grad():
        mean = (F.softmax(a(x) / tau, 1) + F.softmax(b(x) / tau, 1)) / 2
    q = F.log_softmax(logits / tau, 1)
    expected = (mean * (mean.log() - q)).sum(1).mean() * tau * tau
    ens = soft_loss([a, b], tau)
    assert torch.allclose(ens(logits, labels, x), expected, atol=1e-6)
    # the mean's own logits are the ensemble's minimum (0), not either teacher's
    at_mean = tau * mean.log()
    assert ens(at_mean, labels, x).abs() < 1e-5
    assert soft_loss(a, tau)(at_mean, labels, x) > 1e-3
    assert soft_loss(b, tau)(at_mean, labels, x) > 1e-3
    with pytest.raises(ValueError, match="at least one teacher"):
        soft_loss([], tau)


def test_cutmix_pastes_one_box_into_every_frame_and_labels_it_by_area():
    g = torch.Generator().manual_seed(3)
    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1, 1).expand(6, 4, 3, 10, 10).clone()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    seen_partial = False
    for _ in range(20):
        mixed, targets = mix_clips(x, labels, 3, "cutmix", g)
        assert mixed.shape == x.shape and targets.shape == (6, 3)
        assert torch.allclose(targets.sum(1), torch.ones(6))
        for i in range(6):
            own = mixed[i] == i
            assert torch.equal(own, own[:1, :1].expand_as(own))  # one box, every frame alike
            partner = int(mixed[i][~own].unique()[0]) if (~own).any() else i
            # every pixel is the clip's own or its one partner's
            assert set(mixed[i].unique().tolist()) <= {float(i), float(partner)}
            share = own[0, 0].float().mean().item()
            expected = torch.zeros(3)
            expected[labels[i]] += share
            expected[labels[partner]] += 1 - share
            if partner != i:
                seen_partial |= 0 < share < 1
                assert torch.allclose(targets[i], expected, atol=1e-6)
    assert seen_partial
    assert torch.equal(x, torch.arange(6.0).view(6, 1, 1, 1, 1).expand_as(x))  # input untouched


def test_mixup_blends_two_clips_with_matching_targets_and_none_is_identity():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 3, 4, 4, generator=g)
    labels = torch.arange(5)  # one class per clip: the targets name each clip's partner
    mixed, targets = mix_clips(x, labels, 5, "mixup", g)
    assert torch.allclose(targets.sum(1), torch.ones(5))
    for i in range(5):
        lam = float(targets[i, i])
        partner = (
            int(targets[i].argmin())
            if lam == 1.0
            else int(torch.where(torch.arange(5) == i, -1.0, targets[i]).argmax())
        )
        assert torch.allclose(mixed[i], lam * x[i] + (1 - lam) * x[partner], atol=1e-6)
    assert not torch.allclose(mixed, x)
    same, same_t = mix_clips(x, labels, 5, "none", g)
    assert same is x and same_t is labels
    with pytest.raises(ValueError, match="mix"):
        mix_clips(x, labels, 5, "blend", g)


def test_training_with_a_mix_feeds_its_targets_to_the_loss_and_scores_accuracy_on_them():
    import torch.nn.functional as F

    from tsgd.engine import hard_loss

    torch.manual_seed(0)
    clips, labels = _toy_task()
    x = to_float_clips(clips, [0.2] * 3, [0.3] * 3)
    seen = []

    def loss(logits, targets, xb):
        seen.append(targets)
        return hard_loss(logits, targets, xb)

    # a "mix" that keeps the clips and names the other class: the loss must follow the
    # targets (the model learns the swapped labels) and so must the training accuracy
    def swap(xb, yb):
        return xb, F.one_hot(1 - yb, 2).float()

    net, res = _fit_toy(x, labels, loss_fn=loss, mix=swap)
    assert all(t.dtype == torch.float32 and t.shape[1] == 2 for t in seen)
    assert not res.diverged and res.history[-1]["acc"] == 1.0
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x).argmax(1), 1 - labels)
