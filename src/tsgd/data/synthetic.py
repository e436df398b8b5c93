"""A synthetic action dataset written as real H.264 videos.

Classes differ only in the motion of one object, so no single frame tells the class:

- each group (``g01``..``gNN``) has its own static textured background and object style
  (shape, colour, texture, size), shared by every video of that group in every class;
- the object moves along the class path: a straight line at ``object_speed`` px/frame
  (the whole path stays inside the frame, no bouncing) or an orbit, clockwise or
  counter-clockwise *as seen on screen*, of about 0.75-1 revolution;
- each video has one pause, a contiguous run of about ``pause_fraction * frames`` frames in
  which the object stands still (windows without motion, for temporal saliency to find);
- a static distractor object and per-frame sensor noise N(0, noise_std).

Coordinates: ``x`` grows to the right, ``y`` grows *down* (image rows). Clockwise on screen
is therefore the direction of increasing angle ``theta`` in ``(x, y) = c + R (cos, sin)``.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tsgd.io.atomic import atomic_path, write_text_atomic

__all__ = [
    "CLASS_NAMES",
    "MOTIONS",
    "GroupStyle",
    "class_name",
    "generate_synthetic_dataset",
    "make_group_style",
    "render_video",
    "write_mp4",
]

MOTIONS: tuple[str, ...] = (
    "right",
    "left",
    "down",
    "up",
    "clockwise",
    "counterclockwise",
    "down_right",
    "up_left",
)

#: motion -> class name; fixed, in MOTIONS order.
CLASS_NAMES: dict[str, str] = {
    "right": "MoveRight",
    "left": "MoveLeft",
    "down": "MoveDown",
    "up": "MoveUp",
    "clockwise": "RotateClockwise",
    "counterclockwise": "RotateCounterclockwise",
    "down_right": "MoveDownRight",
    "up_left": "MoveUpLeft",
}

_S2 = float(np.sqrt(0.5))
#: unit direction (dx, dy) in image coordinates (y down).
_LINEAR: dict[str, tuple[float, float]] = {
    "right": (1.0, 0.0),
    "left": (-1.0, 0.0),
    "down": (0.0, 1.0),
    "up": (0.0, -1.0),
    "down_right": (_S2, _S2),
    "up_left": (-_S2, -_S2),
}
#: +1: angle increases (clockwise on screen, because y points down).
_ROTATION: dict[str, int] = {"clockwise": 1, "counterclockwise": -1}

CSV_COLUMNS = ("path", "label", "group", "split", "n_frames", "fps")


def class_name(motion: str) -> str:
    """Class name of a motion, e.g. ``"right" -> "MoveRight"``."""
    try:
        return CLASS_NAMES[motion]
    except KeyError:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}") from None


@dataclass(frozen=True)
class GroupStyle:
    """Appearance shared by all videos of one group.

    ``background``: float32 ``[size, size, 3]`` in 0..255; colours are float32 ``[3]`` in
    0..255; radii and the texture period are in pixels.
    """

    size: int
    background: np.ndarray
    color: np.ndarray
    shape: str  # "disc" or "square"
    radius: float
    texture_k: tuple[float, float]  # stripe wave vector, radians per pixel (x, y)
    texture_phase: float
    distractor_color: np.ndarray
    distractor_shape: str
    distractor_radius: float


def _upsample_bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of ``grid`` float ``[g, g, C]`` to ``[size, size, C]``."""
    g = grid.shape[0]
    pos = np.linspace(0.0, g - 1.0, size)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, g - 2)
    f = (pos - i0)[:, None]
    rows = grid[i0] * (1.0 - f[:, :, None]) + grid[i0 + 1] * f[:, :, None]  # [size, g, C]
    cols = rows[:, i0] * (1.0 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]
    return cols


def _smooth_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Coloured multi-octave value noise, float ``[size, size, 3]`` roughly in [-1, 1]."""
    out = np.zeros((size, size, 3))
    total = 0.0
    for cells, amp in ((3, 1.0), (6, 0.6), (12, 0.35)):
        grid = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1, 3))
        out += amp * _upsample_bilinear(grid, size)
        total += amp
    return out / total * 1.6


def _far_color(rng: np.random.Generator, ref: np.ndarray, min_dist: float) -> np.ndarray:
    for _ in range(200):
        c = rng.uniform(0.0, 255.0, size=3)
        if np.linalg.norm(c - ref) >= min_dist:
            return c
    return 255.0 - ref  # complementary colour; unreachable in practice


APPEARANCES = ("uniform", "varied")


def make_group_style(
    rng: np.random.Generator,
    size: int,
    texture_amplitude: float = 55.0,
    appearance: str = "varied",
    object_size: float = 0.125,
) -> GroupStyle:
    """Draw a background and object appearance for a ``size x size`` frame.

    Args:
        texture_amplitude: background texture contrast (0..255 units; 0 = flat colour).
        appearance: ``varied``: random background colour and a random object (colour,
            disc/square, stripe texture); ``uniform``: a grey textured background and the same
            bright disc everywhere, so that only the background texture, the static distractor
            and the motion vary.
        object_size: object radius as a fraction of ``size`` (+-15 % jitter when varied).
    """
    _check_size(size)
    if not texture_amplitude >= 0:
        raise ValueError(f"texture_amplitude must be >= 0, got {texture_amplitude}")
    if appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    if not 0 < object_size < 0.5:
        raise ValueError(f"object_size must be in (0, 0.5), got {object_size}")
    uniform = appearance == "uniform"
    base = np.full(3, 128.0) if uniform else rng.uniform(60.0, 195.0, size=3)
    background = np.clip(base + texture_amplitude * _smooth_texture(rng, size), 0.0, 255.0)
    color = np.full(3, 250.0) if uniform else _far_color(rng, base, 150.0)
    radius = size * object_size * (1.0 if uniform else rng.uniform(0.85, 1.15))
    angle = rng.uniform(0.0, np.pi)
    k = 2.0 * np.pi / max(radius * rng.uniform(0.6, 1.2), 1.5)
    shape = "disc" if uniform or rng.random() < 0.5 else "square"
    return GroupStyle(
        size=size,
        background=background.astype(np.float32),
        color=color.astype(np.float32),
        shape=shape,
        radius=float(radius),
        texture_k=(0.0, 0.0) if uniform else (float(k * np.cos(angle)), float(k * np.sin(angle))),
        texture_phase=float(np.pi / 2) if uniform else float(rng.uniform(0.0, 2.0 * np.pi)),
        distractor_color=_far_color(rng, base, 120.0).astype(np.float32),
        distractor_shape="square" if shape == "disc" else "disc",
        distractor_radius=float(radius * rng.uniform(0.5, 0.7)),
    )


def _alpha(dx: np.ndarray, dy: np.ndarray, shape: str, radius: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a disc/square of ``radius`` at offsets dx, dy."""
    if shape == "disc":
        dist = np.sqrt(dx * dx + dy * dy)
    else:
        dist = np.maximum(np.abs(dx), np.abs(dy))
    return np.clip(radius - dist + 0.5, 0.0, 1.0)


def _pause_progress(
    rng: np.random.Generator, frames: int, pause_fraction: float
) -> tuple[np.ndarray, int, int]:
    """Cumulative number of moving steps at each frame, float ``[frames]``, plus the pause.

    Returns ``(progress, pause_start, pause_len)``; frames ``pause_start .. pause_start +
    pause_len - 1`` share one position.
    """
    if pause_fraction > 0:
        pause_len = int(round(pause_fraction * frames * rng.uniform(0.8, 1.2)))
        pause_len = int(np.clip(pause_len, 2, frames - 2))
    else:
        pause_len = 0
    pause_start = int(rng.integers(0, frames - pause_len + 1))
    steps = np.ones(frames - 1)
    if pause_len >= 2:
        steps[pause_start : pause_start + pause_len - 1] = 0.0
    progress = np.concatenate([[0.0], np.cumsum(steps)])
    return progress, pause_start, pause_len


def _trajectory(
    motion: str,
    rng: np.random.Generator,
    progress: np.ndarray,
    size: int,
    radius: float,
    object_speed: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Object centre per frame, float ``x[T], y[T]`` in pixels."""
    n_moving = max(float(progress[-1]), 1.0)
    margin = radius + 1.0
    lo, hi = margin, size - margin
    if motion in _LINEAR:
        d = np.asarray(_LINEAR[motion])
        speed = object_speed * rng.uniform(0.75, 1.25)
        # keep the whole path inside the frame: cap the speed if the path would not fit
        max_comp = float(np.max(np.abs(d)))
        speed = min(speed, (hi - lo) * 0.95 / (n_moving * max_comp))
        extent = speed * n_moving * d  # signed total displacement per axis
        start = np.empty(2)
        for a in range(2):
            if extent[a] >= 0:
                start[a] = rng.uniform(lo, hi - extent[a])
            else:
                start[a] = rng.uniform(lo - extent[a], hi)
        x = start[0] + speed * d[0] * progress
        y = start[1] + speed * d[1] * progress
        return x, y
    if motion in _ROTATION:
        orbit = size / 5.0 * rng.uniform(0.9, 1.1)
        orbit = min(orbit, max((hi - lo) / 2.0 - 0.5, 0.5))
        cx = rng.uniform(lo + orbit, hi - orbit)
        cy = rng.uniform(lo + orbit, hi - orbit)
        total = 2.0 * np.pi * rng.uniform(0.75, 1.0)
        theta = rng.uniform(0.0, 2.0 * np.pi) + _ROTATION[motion] * total * progress / n_moving
        return cx + orbit * np.cos(theta), cy + orbit * np.sin(theta)
    raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")


def render_video(
    motion: str,
    rng: np.random.Generator,
    *,
    frames: int = 32,
    size: int = 64,
    style: GroupStyle | None = None,
    object_speed: float = 1.5,
    pause_fraction: float = 0.3,
    noise_std: float = 2.0,
    distractor: bool = True,
) -> np.ndarray:
    """Render one synthetic video (pure: depends only on its arguments and ``rng``'s state).

    Args:
        motion: one of :data:`MOTIONS`.
        rng: generator for everything that varies per video (start, speed jitter +-25%,
            pause timing, distractor position, noise). Also draws the style if ``style`` is None.
        frames: number of frames T (>= 4).
        size: frame height = width in pixels (even, >= 16).
        style: the group's appearance (see :func:`make_group_style`); drawn from ``rng``
            if None. Its ``size`` must equal ``size``.
        object_speed: linear speed in px/frame (before the +-25% jitter).
        pause_fraction: fraction of frames in the single still segment (0 = no pause).
        noise_std: per-pixel Gaussian noise std in 0..255 units (0 = none).
        distractor: draw a static second object at a random position.

    Returns:
        uint8 ``[T, size, size, 3]`` RGB frames.
    """
    _check_render_args(motion, frames, size, object_speed, pause_fraction, noise_std)
    if style is None:
        style = make_group_style(rng, size)
    elif style.size != size:
        raise ValueError(f"style was made for size {style.size}, not {size}")

    progress, _, _ = _pause_progress(rng, frames, pause_fraction)
    x, y = _trajectory(motion, rng, progress, size, style.radius, object_speed)

    coords = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    bg = style.background.astype(np.float32)
    if distractor:
        r = style.distractor_radius
        dxy = rng.uniform(r + 1.0, size - r - 1.0, size=2)
        a = _alpha(coords[None, :] - dxy[0], coords[:, None] - dxy[1], style.distractor_shape, r)
        bg = bg * (1.0 - a[..., None]) + style.distractor_color * a[..., None]

    dx = coords[None, None, :] - x[:, None, None].astype(np.float32)  # [T, 1, W]
    dy = coords[None, :, None] - y[:, None, None].astype(np.float32)  # [T, H, 1]
    dx, dy = np.broadcast_arrays(dx, dy)
    alpha = _alpha(dx, dy, style.shape, style.radius)[..., None]  # [T, H, W, 1]
    kx, ky = style.texture_k
    stripes = np.sin(kx * dx + ky * dy + style.texture_phase)[..., None]
    obj = style.color * (0.78 + 0.22 * stripes)
    video = bg[None] * (1.0 - alpha) + obj * alpha
    if noise_std > 0:
        video += np.float32(noise_std) * rng.standard_normal(size=video.shape, dtype=np.float32)
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


#: container format per file suffix, for :func:`write_video`
_FORMATS = {".mp4": "mp4", ".avi": "avi", ".webm": "webm", ".mkv": "matroska", ".mov": "mov"}


def write_video(
    path: str | os.PathLike[str],
    frames_uint8_thwc: np.ndarray,
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    keyint: int | None = None,
) -> None:
    """Write RGB frames as a video (yuv420p, one thread), atomically.

    Args:
        path: destination; its suffix picks the container (.mp4, .avi, .webm, .mkv, .mov).
            Written to a temporary name in the same folder, then renamed.
        frames_uint8_thwc: uint8 ``[T, H, W, 3]`` RGB, ``H`` and ``W`` even.
        fps: frame rate in frames per second.
        codec: an FFmpeg encoder: ``libx264`` (H.264), ``mpeg4`` (MPEG-4 part 2, as XviD
            AVIs), ``libvpx-vp9`` (VP9), ...
        crf: constant rate factor for libx264 / libvpx-vp9 (lower = better quality).
        keyint: maximum frames between keyframes (None: the encoder's default).
    """
    import av  # lazy

    arr = np.asarray(frames_uint8_thwc)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ValueError(
            f"frames must be uint8 [T, H, W, 3] with T >= 1, got {arr.dtype} {arr.shape}"
        )
    _, h, w, _ = arr.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs even height and width, got {h}x{w}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"unknown video suffix {suffix!r}; use one of {sorted(_FORMATS)}")
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format=_FORMATS[suffix]) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(100000))
        stream.width = w
        stream.height = h
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # asm=0: x264's SIMD paths gave different bitstreams for the same frames from run
            # to run on this (AVX-512) machine; the C paths are deterministic, ~5 ms a video.
            stream.options = {"crf": str(int(crf)), "preset": "veryfast", "x264-params": "asm=0"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": str(int(crf)), "b": "0"}
        if keyint is not None:
            stream.codec_context.gop_size = int(keyint)
        stream.codec_context.thread_count = 1
        for frame in arr:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_mp4(
    path: str | os.PathLike[str], frames_uint8_thwc: np.ndarray, fps: float, *, crf: int = 18
) -> None:
    """Write RGB frames as H.264 in an MP4 (see :func:`write_video`)."""
    write_video(path, frames_uint8_thwc, fps, codec="libx264", crf=crf)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 16 or size % 2:
        raise ValueError(f"size must be an even integer >= 16, got {size!r}")


def _check_render_args(
    motion: str,
    frames: int,
    size: int,
    object_speed: float,
    pause_fraction: float,
    noise_std: float,
) -> None:
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 4:
        raise ValueError(f"frames must be an integer >= 4, got {frames!r}")
    _check_size(size)
    if not object_speed > 0:
        raise ValueError(f"object_speed must be > 0 px/frame, got {object_speed}")
    if not 0.0 <= pause_fraction <= 0.8:
        raise ValueError(f"pause_fraction must be in [0, 0.8], got {pause_fraction}")
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")


def generate_synthetic_dataset(
    out_dir: str | Path,
    *,
    classes: int = 6,
    groups: int = 6,
    test_groups: int = 2,
    videos_per_group: int = 5,
    frames: int = 32,
    size: int = 64,
    fps: int = 25,
    object_speed: float = 1.5,
    pause_fraction: float = 0.3,
    noise_std: float = 2.0,
    scene: str = "group",
    texture_amplitude: float = 55.0,
    appearance: str = "varied",
    object_size: float = 0.125,
    seed: int = 0,
) -> Path:
    """Write a synthetic motion dataset of H.264 MP4 videos.

        Layout under ``out_dir``: ``videos/<Class>/<Class>_gXX_cYY.mp4``, ``classes.txt`` (class
        names in MOTIONS order) and ``clips.csv`` (``path,label,group,split,n_frames,fps``; path
        relative to ``out_dir``), written last and atomically. The last ``test_groups`` groups
        form the ``test`` split, the others ``train``. ``scene="group"``: group ``g`` has one style
    (background and object) in every class, as UCF groups share a source scene; ``"video"``: each
    video draws its own style from ``default_rng((seed, 2, c, g, v))`` (more scene diversity).

        Deterministic: the style of group ``g`` comes from ``default_rng((seed, 0, g))`` and the
        pixels of video ``(class c, group g, clip v)`` from ``default_rng((seed, 1, c, g, v))``,
        so they do not depend on the other arguments' counts.

        Returns:
            ``out_dir`` as a Path.
    """
    for name, value, low in (
        ("groups", groups, 1),
        ("videos_per_group", videos_per_group, 1),
        ("test_groups", test_groups, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if (
        isinstance(classes, bool)
        or not isinstance(classes, int)
        or not 1 <= classes <= len(MOTIONS)
    ):
        raise ValueError(f"classes must be an integer in 1..{len(MOTIONS)}, got {classes!r}")
    if test_groups >= groups:
        raise ValueError(f"test_groups ({test_groups}) must be < groups ({groups})")
    if groups > 99 or videos_per_group > 99:
        raise ValueError("groups and videos_per_group must be <= 99 (two-digit names)")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if scene not in ("group", "video"):
        raise ValueError(f"scene must be 'group' or 'video', got {scene!r}")
    _check_render_args(MOTIONS[0], frames, size, object_speed, pause_fraction, noise_std)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "clips.csv"
    manifest.unlink(missing_ok=True)  # an interrupted run must not leave a finished-looking set

    motions = MOTIONS[:classes]
    names = [class_name(m) for m in motions]
    styles = [
        make_group_style(
            np.random.default_rng((seed, 0, g)), size, texture_amplitude, appearance, object_size
        )
        for g in range(groups)
    ]
    rows: list[tuple[str, str, str, str, int, float]] = []
    written: set[Path] = set()
    for c, (motion, cname) in enumerate(zip(motions, names, strict=True)):
        for g in range(groups):
            group = f"g{g + 1:02d}"
            split = "test" if g >= groups - test_groups else "train"
            for v in range(videos_per_group):
                rng = np.random.default_rng((seed, 1, c, g, v))
                style = (
                    styles[g]
                    if scene == "group"
                    else make_group_style(
                        np.random.default_rng((seed, 2, c, g, v)),
                        size,
                        texture_amplitude,
                        appearance,
                        object_size,
                    )
                )
                video = render_video(
                    motion,
                    rng,
                    frames=frames,
                    size=size,
                    style=style,
                    object_speed=object_speed,
                    pause_fraction=pause_fraction,
                    noise_std=noise_std,
                )
                rel = Path("videos") / cname / f"{cname}_{group}_c{v + 1:02d}.mp4"
                write_mp4(out / rel, video, fps)
                written.add(out / rel)
                rows.append((rel.as_posix(), cname, group, split, frames, float(fps)))

    # remove videos of an earlier, larger run so that a folder scan sees only this set
    videos_dir = out / "videos"
    for old in videos_dir.glob("*/*.mp4"):
        if old not in written and old.parent.name in CLASS_NAMES.values():
            old.unlink()

    write_text_atomic(out / "classes.txt", "".join(f"{n}\n" for n in names))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    write_text_atomic(manifest, buf.getvalue())
    return out
