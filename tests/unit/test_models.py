import pytest
import torch

from tsgd.models import ConvNet3D, build_model


@pytest.mark.parametrize("norm", ["none", "batch", "instance"])
@pytest.mark.parametrize("frames,size", [(8, 32), (16, 64), (4, 32)])
def test_convnet3d_output_shape(norm, frames, size):
    net = ConvNet3D(5, widths=(8, 16, 16), norm=norm).eval()
    out = net(torch.randn(2, frames, 3, size, size))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


def test_convnet3d_benchmark_widths_at_112():
    net = ConvNet3D(9).eval()
    assert net(torch.randn(1, 16, 3, 112, 112)).shape == (1, 9)
    assert [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv3d)] == [
        64,
        128,
        128,
        9,
    ]


def test_norm_variants_have_the_right_layers():
    def kinds(name):
        return {type(m).__name__ for m in build_model(name, 3, widths=(4, 4, 4)).modules()}

    assert "BatchNorm3d" in kinds("convnet3d_bn")
    assert "InstanceNorm3d" in kinds("convnet3d_in")
    assert not {"BatchNorm3d", "InstanceNorm3d"} & kinds("convnet3d")


def test_convnet3d_is_temporal():
    # the same frames in reverse order must give different logits (motion matters)
    torch.manual_seed(0)
    net = ConvNet3D(4, widths=(8, 8, 8)).eval()
    x = torch.randn(1, 8, 3, 32, 32)
    assert not torch.allclose(net(x), net(x.flip(1)))


def test_torchvision_adapter_takes_ntchw():
    net = build_model("r3d_18", 4).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 4, 3, 32, 32)).shape == (1, 4)


def test_registry_rejects_unknown_names_and_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet9000", 3)
    with pytest.raises(ValueError, match="norm"):
        build_model("convnet3d", 3, norm="batch")
    with pytest.raises(ValueError, match="extra arguments"):
        build_model("mc3_18", 3, widths=(1, 2, 3))
    with pytest.raises(ValueError, match="shape"):
        ConvNet3D(3)(torch.randn(3, 32, 32))


def test_checkpoint_round_trip_rebuilds_the_architecture(tmp_path):
    from tsgd.models.checkpoint import load_model, save_model

    torch.manual_seed(0)
    net = build_model("convnet3d_bn", 3, widths=(4, 8, 8), dropout=0.1).eval()
    path = tmp_path / "teacher.safetensors"
    save_model(
        path,
        net,
        {
            "model": "convnet3d_bn",
            "num_classes": 3,
            "widths": [4, 8, 8],
            "dropout": 0.1,
            "classes": ["a", "b", "c"],
        },
    )
    loaded, meta = load_model(path, {"classes": ["a", "b", "c"]})
    x = torch.randn(2, 4, 3, 16, 16)
    assert torch.equal(loaded(x), net(x)) and meta["model"] == "convnet3d_bn"
    with pytest.raises(ValueError, match="classes"):
        load_model(path, {"classes": ["a", "b"]})
