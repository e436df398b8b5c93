"""params.yaml loading and JSON-schema validation (defaults filled, errors name the key)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """params.yaml does not match its schema; the message lists every offending key."""


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

    Returns a deep copy with schema defaults filled in. Raises :class:`ParamsError` naming
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
