"""params.yaml loading and JSON-schema validation (defaults filled, errors name the key)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """params.yaml does not match its schema; the message lists every offending key."""


_UCF_LIKE = {
    "preprocess": {"frames": 16, "gap": 4, "resize": [120, 160]},
    "clip": {"frames": 16, "crop": 112},
}
_SMALL = {
    "preprocess": {"frames": 8, "gap": 4, "resize": [64, 64]},
    "clip": {"frames": 8, "crop": 64},
}

#: Clip settings per dataset source, used for every ``null`` in ``preprocess.frames``,
#: ``preprocess.gap``, ``preprocess.resize``, ``clip.frames`` and ``clip.crop``: the benchmark
#: protocol of METHOD.md (UCF101 / MiniUCF / HMDB51: 16 frames, gap 4, 160x120 resized,
#: 112 px crops; Kinetics / SSv2: 8 frames of 64x64, gap 4 (our choice: the protocol names
#: none)); ``folder`` datasets are treated like UCF101; the built-in synthetic set is small.
DATASET_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "synthetic": {
        "preprocess": {"frames": 16, "gap": 1, "resize": [36, 36]},
        "clip": {"frames": 8, "crop": 32},
    },
    "folder": _UCF_LIKE,
    "ucf101": _UCF_LIKE,
    "miniucf": _UCF_LIKE,
    "hmdb51": _UCF_LIKE,
    "kinetics": _SMALL,
    "ssv2": _SMALL,
}


def resolve_presets(params: dict[str, Any]) -> dict[str, Any]:
    """Fill the ``null`` clip settings of validated params from :data:`DATASET_PRESETS`.

    ``preprocess.min_frames`` null becomes ``clip.frames`` (a video shorter than one clip is
    bad input). Raises :class:`ParamsError` when the resolved settings cannot work together
    (a crop larger than the cached frames, clips longer than the cache).
    """
    preset = DATASET_PRESETS[params["dataset"]["source"]]
    for section, values in preset.items():
        for key, value in values.items():
            if params[section].get(key) is None:
                params[section][key] = copy.deepcopy(value)
    pre, clip = params["preprocess"], params["clip"]
    if pre.get("min_frames") is None:
        pre["min_frames"] = clip["frames"]
    problems = []
    teacher = params.get("teacher", {})
    if teacher.get("pretrained") and not teacher.get("pretrained_sha256"):
        problems.append("teacher.pretrained needs teacher.pretrained_sha256 (its sha256)")
    if clip["crop"] > min(pre["resize"]):
        problems.append(
            f"clip.crop ({clip['crop']}) is larger than preprocess.resize {pre['resize']}"
        )
    if clip["frames"] > pre["frames"]:
        problems.append(
            f"clip.frames ({clip['frames']}) exceeds preprocess.frames ({pre['frames']})"
        )
    if problems:
        raise ParamsError("params do not fit together:\n  " + "\n  ".join(problems))
    return params


def _with_defaults(validator_cls: Any) -> Any:
    from jsonschema import validators

    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return validators.extend(validator_cls, {"properties": set_defaults})


def _key(path: Any) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def validate_params(
    params: Mapping[str, Any], schema_path: str | Path, source: str = "params.yaml"
) -> dict[str, Any]:
    """Validate ``params`` against the YAML JSON-schema at ``schema_path``.

    Returns a deep copy with schema defaults filled in and the dataset's clip settings
    resolved (:func:`resolve_presets`). Raises :class:`ParamsError` naming
    each offending key (``distill.lr: -1 is less than the minimum of 0``); unknown keys are
    errors wherever the schema says ``additionalProperties: false``.
    """
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    data = copy.deepcopy(dict(params))
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = []
        for err in errors:
            if err.validator == "additionalProperties":
                extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
                for k in extra:
                    lines.append(f"{_key([*err.absolute_path, k])}: unknown key")
            else:
                lines.append(f"{_key(err.absolute_path)}: {err.message}")
        raise ParamsError(f"{source} is invalid:\n  " + "\n  ".join(lines))
    ev, teacher = data.get("evaluate") or {}, data.get("teacher") or {}
    if ev.get("soft_teachers", 1) > 1 and teacher.get("pretrained"):
        raise ParamsError(
            f"{source}: evaluate.soft_teachers: {ev['soft_teachers']} trains more teachers "
            "beside the teacher, but teacher.pretrained fetches one; use soft_teachers: 1"
        )
    if {"dataset", "preprocess", "clip"} <= set(data):
        resolve_presets(data)
    return data


def load_params(path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read and validate a params YAML file (see :func:`validate_params`)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"params file not found: {p}")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{p}: top level must be a mapping, got {type(raw).__name__}")
    return validate_params(raw, schema_path, source=str(p))
