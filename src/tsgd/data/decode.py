"""Video decoding through decord (``decord2``), imported lazily.

All functions return RGB uint8 frames. A file that cannot be opened or read, an empty file,
or a video with no frames raises :class:`DecodeError`, whose message names the file.

decord bug worked around here: decord infers the channel count of a decoded frame as
``linesize / width``. FFmpeg pads each RGB row to a SIMD alignment (64 bytes with AVX-512),
so for some output widths (8, 12, 16, 24, 32, 48, 96, 144 on an AVX-512 machine) the padded
row is an exact multiple of the width and decord returns garbage (``vr[i]`` gives shape
``[H, W, 6]``) or fails in ``get_batch`` ("DECORDArrayCopyFromTo: The size must exactly
match"). When that happens we decode at a slightly wider odd width (which that arithmetic
never hits) and resample the width back with linear interpolation. Which widths are affected
depends on the CPU, so it is detected at run time and remembered per process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DecodeError", "VideoFile", "open_video", "read_frames", "video_info"]

_LINESIZE_BUG = "DECORDArrayCopyFromTo"
#: output width -> width decord can produce at this CPU's alignment (filled at run time)
_SUBSTITUTE_WIDTH: dict[int, int] = {}


class DecodeError(ValueError):
    """A video file could not be decoded. ``path`` and ``reason`` are kept as attributes."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


#: substrings of decoder messages -> what they mean, in words a user can act on
_EXPLAINED: tuple[tuple[str, str], ...] = (
    ("cannot find video stream", "no video stream the decoder can read (unknown codec?)"),
    ("Error reading", "not a readable video file (truncated, corrupt or not a video)"),
    ("Invalid data found", "not a readable video file (truncated, corrupt or not a video)"),
    ("avcodec_send_packet", "corrupt or truncated video data"),
    ("filter_graph", "corrupt or truncated video data (bad stream parameters)"),
)


def _short_reason(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """One line: what went wrong in plain words when known, then the decoder's own message
    (first line, the file's path removed, at most 160 characters)."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if path is not None:
        first = first.replace(str(path), "<file>")
    detail = f"{type(exc).__name__}: {first[:160]}"
    for needle, meaning in _EXPLAINED:
        if needle in str(exc):
            return f"{meaning}; {detail}"
    return detail


def _resample_width(frames: np.ndarray, width: int) -> np.ndarray:
    """Linear resampling along the width (pixel-centre aligned).

    ``frames``: uint8 ``[N, H, W_in, 3]`` -> uint8 ``[N, H, width, 3]``.
    """
    w_in = frames.shape[2]
    if w_in == width:
        return frames
    pos = (np.arange(width) + 0.5) * (w_in / width) - 0.5
    pos = np.clip(pos, 0.0, w_in - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), w_in - 2)
    f = (pos - i0).astype(np.float32)[None, None, :, None]
    x = frames.astype(np.float32)
    out = x[:, :, i0] * (1.0 - f) + x[:, :, i0 + 1] * f
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class VideoFile:
    """An open video (decord ``VideoReader``, CPU, one thread).

    Attributes: ``path``; ``n_frames`` (frames decord reports); ``fps`` (average, float).
    If ``width`` and ``height`` are given, frames are resized by decord while decoding to
    ``height x width`` pixels (no crop, aspect ratio not kept).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, width: int | None = None, height: int | None = None
    ) -> None:
        if (width is None) != (height is None):
            raise ValueError(f"give both width and height or neither (got {width=}, {height=})")
        if width is not None and height is not None and (int(width) < 1 or int(height) < 1):
            raise ValueError(f"width and height must be >= 1, got {width=}, {height=}")
        self.path = Path(path)
        if not self.path.is_file():
            raise DecodeError(self.path, "file not found")
        if self.path.stat().st_size == 0:
            raise DecodeError(self.path, "empty file (0 bytes)")
        self.width = None if width is None else int(width)
        self.height = None if height is None else int(height)
        open_w = _SUBSTITUTE_WIDTH.get(self.width, self.width) if self.width else None
        self._reader = self._open(open_w, self.height)
        self._decode_width = open_w
        try:
            self.n_frames = len(self._reader)
            self.fps = float(self._reader.get_avg_fps())
        except Exception as exc:
            raise DecodeError(self.path, _short_reason(exc, self.path)) from exc
        if self.n_frames < 1:
            raise DecodeError(self.path, "video has no frames")

    def _open(self, width: int | None, height: int | None) -> Any:
        import decord  # lazy: heavy native library

        kwargs: dict[str, Any] = {"ctx": decord.cpu(0), "num_threads": 1}
        if width is not None and height is not None:
            kwargs["width"] = width
            kwargs["height"] = height
        try:
            return decord.VideoReader(str(self.path), **kwargs)
        except Exception as exc:  # decord raises DECORDError (a RuntimeError)
            raise DecodeError(self.path, _short_reason(exc, self.path)) from exc

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Decode frames by index.

        Args:
            indices: 0-based source-frame indices (may repeat), each in ``0..n_frames-1``.

        Returns:
            uint8 ``[len(indices), H, W, 3]`` RGB.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError(f"no frame indices given for {self.path}")
        if idx.min() < 0 or idx.max() >= self.n_frames:
            raise ValueError(
                f"frame indices out of range 0..{self.n_frames - 1} for {self.path}: "
                f"min {idx.min()}, max {idx.max()}"
            )
        frames = self._batch(self._reader, idx)
        if frames is None:  # decord's linesize bug at this width
            frames = self._read_substitute(idx)
        elif self.width is not None and self._decode_width != self.width:
            frames = _resample_width(frames, self.width)
        expected_hw = (self.height, self.width) if self.width is not None else frames.shape[1:3]
        if frames.shape != (idx.size, *expected_hw, 3):
            raise DecodeError(self.path, f"decoded shape {frames.shape}, expected {expected_hw}")
        return np.ascontiguousarray(frames)

    def _batch(self, reader: Any, idx: np.ndarray) -> np.ndarray | None:
        """``get_batch`` as uint8 [N, H, W, 3], or None when decord hit the linesize bug."""
        try:
            frames = reader.get_batch(idx.tolist()).asnumpy()
        except Exception as exc:
            if _LINESIZE_BUG in str(exc):
                return None
            raise DecodeError(self.path, _short_reason(exc, self.path)) from exc
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != idx.size:
            raise DecodeError(self.path, f"unexpected decoded array {frames.dtype} {frames.shape}")
        if frames.shape[-1] != 3:
            return None
        return frames

    def _read_substitute(self, idx: np.ndarray) -> np.ndarray:
        if self.width is not None and self.height is not None:
            height, width = self.height, self.width
        else:  # native size: a single frame still has the right H, W (channels are wrong)
            height, width = (int(v) for v in self._reader[0].shape[:2])
        for w2 in (width + 1, width + 3, width + 5, width + 7):
            reader = self._open(w2, height)
            frames = self._batch(reader, idx)
            if frames is not None and frames.shape[1:3] == (height, w2):
                _SUBSTITUTE_WIDTH[width] = w2
                if self.width is not None:
                    self._reader, self._decode_width = reader, w2
                return _resample_width(frames, width)
        raise DecodeError(self.path, f"decord cannot produce frames {width} pixels wide")


def open_video(
    path: str | os.PathLike[str], *, width: int | None = None, height: int | None = None
) -> VideoFile:
    """Open a video for decoding (see :class:`VideoFile`); raises DecodeError if unreadable."""
    return VideoFile(path, width=width, height=height)


def video_info(path: str | os.PathLike[str]) -> tuple[int, float]:
    """Frame count and average frame rate of a video.

    Returns:
        ``(n_frames, fps)``: number of frames decord reports, frames per second (float).
    """
    video = VideoFile(path)
    return video.n_frames, video.fps


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int] | np.ndarray,
    *,
    width: int | None = None,
    height: int | None = None,
) -> np.ndarray:
    """Decode selected frames of a video.

    Args:
        path: the video file.
        indices: source-frame indices (0-based, may repeat), each in ``0..n_frames-1``.
        width, height: optional decode-time resize (both or neither), in pixels.

    Returns:
        uint8 ``[len(indices), H, W, 3]`` RGB frames (``H, W`` = ``height, width`` if given,
        else the video's size).
    """
    return VideoFile(path, width=width, height=height).read(indices)
