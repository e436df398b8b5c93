"""Pictures of benchmark runs: files written, bad input refused."""

import math

import pytest

from tsgd.report.media import fit_title, plot_runs

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_runs_writes_a_png_with_collapsed_and_reference_rows(tmp_path):
    panels = {
        "IPC 1, hard": [
            ("random", [(20.0, False), (25.0, False), (30.0, False)]),
            ("dm", [(11.1, True), (math.nan, True), (22.0, False)]),
            ("tsgd", [(40.0, False)]),  # one run: no std, still drawn
        ],
        "IPC 1, soft": [("random", [(30.0, False)]), ("dm", [(11.1, True)])],
    }
    out = plot_runs(panels, tmp_path / "page.png", title="t", reference="random")
    assert out == tmp_path / "page.png"
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_a_long_title_is_wrapped_to_stay_inside_a_one_panel_picture():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    title = (
        "TSGF on against off at IPC 1 across teacher seeds, UCF-9 g08-g11, 6 seeds "
        "(CPU, 8 x 56² clips): convnet3d"
    )
    assert fit_title("short", 4.2) == "short"
    wrapped = fit_title(title, 4.2)
    assert wrapped.replace("\n", " ") == title and wrapped.count("\n") >= 1
    fig = plt.figure(figsize=(4.2, 2.0), dpi=100)
    try:
        text = fig.suptitle(wrapped, fontsize=9)
        fig.canvas.draw()
        box = text.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width  # the page title is not cut off
    finally:
        plt.close(fig)


def test_plot_runs_refuses_an_empty_picture(tmp_path):
    with pytest.raises(ValueError, match="no runs"):
        plot_runs({"IPC 1, hard": [("random", [])]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_history_draws_per_epoch_dicts_and_refuses_empty(tmp_path):
    from tsgd.report.media import plot_history

    hist = [{"loss": 2.0 - 0.1 * i, "acc": 0.1 * i, "lr": 1e-3} for i in range(5)]
    out = plot_history(hist, tmp_path / "curves.png", "teacher")
    assert out.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="empty history"):
        plot_history([], tmp_path / "none.png")
