"""Pieces of the training loops shared by the stages: hyperparameter grids and early stopping."""
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


class EarlyStopping:
    """Counts epochs without a new best validation loss; stops after `patience` of them."""

    def __init__(self, patience, best=float("inf"), bad_epochs=0):
        self.patience, self.best, self.bad_epochs = patience, best, bad_epochs

    def update(self, loss):
        """Record an epoch's loss; True if it is the best so far."""
        if loss < self.best:
            self.best, self.bad_epochs = loss, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self):
        return self.bad_epochs >= self.patience


class LossPlateau:
    """The original alpha2w's early stopping, per training iteration: the first loss is the reference; a loss more
    than `eps` (relative) below the reference becomes the new reference and resets the counter, any other loss adds
    one; stop once the counter reaches `window`. The counter starts at 1, as in the original."""

    def __init__(self, window, eps):
        self.window, self.eps = window, eps
        self.reference, self.counter = None, 1

    def update(self, loss):
        if self.reference is None:
            self.reference = loss
        elif 1.0 - loss / self.reference > self.eps:
            self.reference, self.counter = loss, 0
        else:
            self.counter += 1

    @property
    def should_stop(self):
        return self.counter >= self.window
