"""JSON experiment configs, validated on load: unknown keys, missing keys and wrong types are errors naming the key.

Values are typed JSON: a boolean must be `true`/`false` (never the string "False", which a `type=bool` flag would
read as true), an integer must be a JSON integer, a float may be written as an integer. Numbers are finite (JSON's
NaN / Infinity extensions are refused) and within their key's valid range.
"""
import dataclasses
import json
import math
import os
import sys
import types

from utils import layout
from utils.cli import UserError

REQUIRED = object()


class _Derived:
    """The default of a key that the stage derives (a network fact, a count read from the data, a path of the output
    layout) when the config leaves it out; a config that states it must agree (facts) or overrides it (paths)."""

    def __repr__(self):
        return "DERIVED"


DERIVED = _Derived()

_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "an object", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid interval of a numeric key (closed unless an end is marked open)."""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value):
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self):
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1, low_open=True, high_open=True)


@dataclasses.dataclass(frozen=True)
class Field:
    """One config key: its accepted JSON types, default (REQUIRED if none) and, optionally, its allowed values and,
    for numbers, their valid range."""
    types: tuple
    default: object = REQUIRED
    choices: tuple = ()
    help: str = ""
    valid: Range = None


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


def listed(value):
    """A config value that names one file or a list of them (hyperparameters_from, calibration_gamma), as a list."""
    return value if isinstance(value, list) else [value]


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number; give a finite number")


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
        if is_number(value):
            if not math.isfinite(value):
                raise UserError(f"{source}: key '{key}' is {value}; give a finite number")
            if field.valid is not None and value not in field.valid:
                raise UserError(f"{source}: key '{key}' is {value!r}; it must be {field.valid}")
        values[key] = float(value) if field.types == (float,) else value
    return types.SimpleNamespace(**values)


def settle(cfg, key, derived, source, origin):
    """Set a DERIVED key of `cfg` to `derived`; a stated value must equal it, else a one-line error naming `origin`
    (where the derived value comes from). Returns the value."""
    stated = getattr(cfg, key)
    if stated is DERIVED:
        setattr(cfg, key, derived)
    elif stated != derived:
        raise UserError(f"{source}: '{key}' is {json.dumps(stated)}, but it is {json.dumps(derived)} from {origin}; "
                        "leave the key out (it is derived) or fix it")
    return derived


def default(cfg, key, value):
    """Set a DERIVED key of `cfg` that a config may override (a path, a choice with a derived default)."""
    if getattr(cfg, key) is DERIVED:
        setattr(cfg, key, value)
    return getattr(cfg, key)


def resolved_dict(cfg):
    """The config as a JSON object with every derived key filled in: what the stage actually ran with."""
    return {key: value for key, value in vars(cfg).items() if value is not DERIVED}


def print_resolved(cfg):
    """--print-config: the resolved config as JSON on stdout; keys the data decides when the stage runs, on stderr."""
    print(json.dumps(resolved_dict(cfg), indent=2))
    pending = [key for key, value in vars(cfg).items() if value is DERIVED]
    if pending:
        print(f"derived from the data when the stage runs: {', '.join(pending)}", file=sys.stderr)


def load_config(path, schema):
    """Read and validate the JSON config at `path`."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: config file not found; pass the path of a JSON config (see arg_configs/)")
    return validate(read_json_config(path), schema, path)


DATA_ROOT_VARIABLE = "NIWT_DATA"
DATA_ROOT_MARK = "${" + DATA_ROOT_VARIABLE + "}"


def data_root():
    """The folder the real datasets live in, one subfolder each (CUB/, AWA2/: what download.sh fills): $NIWT_DATA,
    relative to the repository root unless absolute, by default the repository's data/."""
    return os.path.normpath(os.path.join(layout.ROOT, os.environ.get(DATA_ROOT_VARIABLE) or "data"))


def with_data_root(value):
    """`value` (a config, or any value in it) with every "${NIWT_DATA}" replaced by the data root."""
    if isinstance(value, str):
        return value.replace(DATA_ROOT_MARK, data_root())
    if isinstance(value, list):
        return [with_data_root(v) for v in value]
    if isinstance(value, dict):
        return {k: with_data_root(v) for k, v in value.items()}
    return value


def read_json_config(path):
    """The JSON object in the file at `path`, with the data root in its paths (`with_data_root`); a file that is not
    UTF-8 JSON with finite numbers is a one-line error."""
    try:
        with open(path, encoding="utf-8") as f:
            return with_data_root(json.load(f, parse_constant=_refuse_constant))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start}); save the config as UTF-8 JSON") from None
    except ValueError as err:
        raise UserError(f"{path}: {err}") from None
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror})") from None
