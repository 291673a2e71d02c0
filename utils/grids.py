"""Hyperparameter grids: a log10 range of the original's configs, and every combination of several keys."""
import itertools

from utils.cli import UserError


def log10_grid(value, key, source):
    """A number is one setting; the original release's "a,b" string is the grid 10^a, 10^(a+1), ..., 10^b."""
    if not isinstance(value, str):
        return [float(value)]
    bad_range = UserError(f"{source}: key '{key}' is \"{value}\"; write a number, or a log10 range like \"-4,-2\"")
    try:
        low, high = (int(part) for part in value.split(","))
    except ValueError:
        raise bad_range from None
    if low > high:
        raise bad_range
    return [10.0 ** e for e in range(low, high + 1)]


def grid(settings):
    """Every combination of {key: [values]} as a list of dicts, in a stable order."""
    keys = list(settings)
    return [dict(zip(keys, values)) for values in itertools.product(*(settings[k] for k in keys))]
