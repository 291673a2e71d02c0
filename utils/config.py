"""JSON experiment configs, validated on load: unknown keys, missing keys and wrong types are errors naming the key.

Values are typed JSON: a boolean must be `true`/`false` (never the string "False", which a `type=bool` flag would
read as true), an integer must be a JSON integer, a float may be written as an integer.
"""
import dataclasses
import json
import os
import types

from utils.cli import UserError

REQUIRED = object()

_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "an object", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its accepted JSON types, default (REQUIRED if none) and, optionally, its allowed values."""
    types: tuple
    default: object = REQUIRED
    choices: tuple = ()
    help: str = ""


def _is_instance(value, accepted):
    for kind in accepted:
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind not in (bool, int, float) and isinstance(value, kind):
            return True
    return False


def _describe(value):
    return f"{json.dumps(value)} ({_TYPE_WORDS.get(type(value), type(value).__name__)})"


def validate(raw, schema, source):
    """Check a parsed config dict against `schema` (key -> Field); return a namespace with defaults filled in."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: a config must be a JSON object of key: value pairs")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise UserError(f"{source}: unknown key '{unknown[0]}'; known keys are: {', '.join(sorted(schema))}")
    values = {}
    for key, field in schema.items():
        if key not in raw:
            if field.default is REQUIRED:
                hint = f" ({field.help})" if field.help else ""
                raise UserError(f"{source}: missing required key '{key}'{hint}")
            values[key] = field.default
            continue
        value = raw[key]
        if not _is_instance(value, field.types):
            wanted = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in field.types)
            raise UserError(f"{source}: key '{key}' must be {wanted}, got {_describe(value)}")
        if field.choices and value not in field.choices:
            raise UserError(f"{source}: key '{key}' is {json.dumps(value)}; choose one of "
                            f"{', '.join(json.dumps(c) for c in field.choices)}")
        values[key] = float(value) if field.types == (float,) else value
    return types.SimpleNamespace(**values)


def load_config(path, schema):
    """Read and validate the JSON config at `path`."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: config file not found; pass the path of a JSON config (see arg_configs/)")
    with open(path, encoding="utf-8") as f:
        try:
            raw = json.load(f)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    return validate(raw, schema, path)
