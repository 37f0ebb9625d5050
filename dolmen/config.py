"""TOML configuration read once at start into frozen, typed dataclasses.

A service declares its configuration as a frozen dataclass whose fields carry
their defaults and whose docstring says what each is for; `load_config` reads
one TOML table into it. Unknown keys, missing required keys and values of the
wrong type refuse to start with a ConfigError naming the file, the key and what
was expected. Nested dataclasses are nested tables.

Supported field types: str, int, float (ints accepted), bool, Path (relative
paths resolve against the file's folder), list[T] / tuple[T, ...], T | None,
and nested frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from dolmen.errors import ConfigError

T = TypeVar("T")


def load_config(path: Path | str, config_type: type[T], *, section: str | None = None) -> T:
    """Read `path` (TOML) into `config_type`; `section` names the table to read, if not the whole file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if section is not None:
        unknown = sorted(set(raw) - {section})
        if unknown:
            raise ConfigError(f"{path}: unknown table or key {unknown[0]!r} (expected only [{section}])")
        raw = raw.get(section, {})
    return config_from_mapping(raw, config_type, source=str(path), base_dir=path.parent, prefix=section or "")


def config_from_mapping(
    raw: dict[str, Any], config_type: type[T], *, source: str, base_dir: Path, prefix: str = ""
) -> T:
    """Build `config_type` from an already-parsed mapping, with the same checks as `load_config`."""
    assert dataclasses.is_dataclass(config_type), config_type
    hints = typing.get_type_hints(config_type)
    fields = {field.name: field for field in dataclasses.fields(config_type) if field.init}
    toml_names = {name.replace("_", "-"): name for name in fields} | {name: name for name in fields}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        qualified = f"{prefix}.{key}" if prefix else key
        if key not in toml_names:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key {qualified!r} (known keys: {known})")
        name = toml_names[key]
        values[name] = _convert(value, hints[name], source=source, key=qualified, base_dir=base_dir)
    for name, field in fields.items():
        missing = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if missing and name not in values:
            qualified = f"{prefix}.{name}" if prefix else name
            raise ConfigError(f"{source}: missing required key {qualified!r} ({_describe(hints[name])})")
    try:
        return config_type(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {prefix or 'configuration'}: {error}") from None


def _convert(value: Any, expected: Any, *, source: str, key: str, base_dir: Path) -> Any:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, source=source, key=key, base_dir=base_dir)
            except ConfigError:
                continue
        raise _wrong_type(source, key, expected, value)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _wrong_type(source, key, expected, value)
        item_type = typing.get_args(expected)[0]
        items = [
            _convert(item, item_type, source=source, key=f"{key}[{index}]", base_dir=base_dir)
            for index, item in enumerate(value)
        ]
        return tuple(items) if origin is tuple else items
    if isinstance(expected, type) and dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise _wrong_type(source, key, expected, value)
        return config_from_mapping(value, expected, source=source, base_dir=base_dir, prefix=key)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(source, key, expected, value)
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _wrong_type(source, key, expected, value)
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _wrong_type(source, key, expected, value)
    if expected is str:
        if isinstance(value, str):
            return value
        raise _wrong_type(source, key, expected, value)
    if expected is Path:
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            return path if path.is_absolute() else (base_dir / path).resolve()
        raise _wrong_type(source, key, expected, value)
    raise AssertionError(f"unsupported configuration type {expected!r} for {key}")


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(expected))
    if origin in (list, tuple):
        return f"a list of {_describe(typing.get_args(expected)[0])}"
    if dataclasses.is_dataclass(expected):
        return "a table"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path (string)",
        type(None): "nothing",
    }.get(expected, str(expected))


def _wrong_type(source: str, key: str, expected: Any, value: Any) -> ConfigError:
    return ConfigError(f"{source}: key {key!r} must be {_describe(expected)}, not {value!r}")
