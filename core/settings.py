"""Typed dataclasses from plain YAML/JSON values, with errors that name the key and file.

``build(cls, data, file, key)`` checks every key of ``data`` against the fields
of the dataclass ``cls`` (unknown keys are rejected), converts values by the
field's annotation (bool, int, float, str, Literal, ``X | None``, tuple,
list, dict, nested dataclasses) and raises :class:`ConfigError` naming the
dotted key and the file on any mismatch. ``ValueError`` raised by the
dataclass's own ``__post_init__`` is reported the same way.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from core.errors import ConfigError


def build(cls: type, data: Any, file: str | Path | None = None, key: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``data`` (a mapping), validating strictly."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, key or None, f"expected a mapping of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else str(unknown[0])
        raise ConfigError(file, where, f"unknown key; expected one of: {', '.join(sorted(fields))}")
    hints = get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        dotted = f"{key}.{name}" if key else name
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(file, dotted, "missing required key")
            continue
        values[name] = convert(hints[name], data[name], file, dotted)
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(file, key or None, str(exc)) from None


def convert(annotation: Any, value: Any, file: str | Path | None, key: str) -> Any:
    """Convert ``value`` to ``annotation`` or raise ConfigError naming ``key``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return convert(option, value, file, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(file, key, f"invalid value {value!r} ({'; '.join(errors)})")
    if origin is Literal:
        if value not in args:
            raise ConfigError(file, key, f"invalid value {value!r}; expected one of {list(args)}")
        return value
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return build(annotation, value, file, key)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(file, key, f"expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(file, key, f"expected {len(args)} values, got {len(value)}")
            items = [convert(a, v, file, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value))]
        else:
            item_type = args[0] if args else Any
            items = [convert(item_type, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a mapping, got {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {convert(key_type, k, file, key): convert(value_type, v, file, f"{key}.{k}") for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(file, key, f"expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(file, key, f"expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(file, key, f"expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(file, key, f"expected a string, got {value!r}")
        return value
    if annotation is Path:
        if not isinstance(value, str):
            raise ConfigError(file, key, f"expected a path string, got {value!r}")
        return Path(value)
    raise ConfigError(file, key, f"unsupported setting type {annotation!r}")


def to_plain(obj: Any) -> Any:
    """JSON-able form of a settings dataclass (for hashing and the run manifest)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


__all__ = ["build", "convert", "to_plain", "typing"]


def load_settings_file(cls: type, path: str | Path | None) -> Any:
    """``cls`` built from a YAML mapping file (a stage's manifest section on its own), or its
    defaults when ``path`` is None; a file that cannot be read raises :class:`ConfigError`."""
    if path is None:
        return cls()
    import yaml

    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(path, None, f"cannot read settings: {exc}") from None
    return build(cls, data, path)
