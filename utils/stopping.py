"""Early stopping rules of the training loops: finetuning's patience on the validation loss, and alpha2w's plateau
of its training loss (per epoch, or the original's per iteration)."""


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
    """The original alpha2w's plateau rule: the first loss is the reference; a loss more than `eps` (relative) below
    the reference becomes the new reference and resets the counter, any other loss adds one; stop once the counter
    reaches `window`. The original feeds it every iteration's loss with the counter starting at 1."""

    def __init__(self, window, eps, counter=0):
        self.window, self.eps = window, eps
        self.reference, self.counter = None, counter

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


class UnseenHeadStopping:
    """When alpha2w stops training a head (`zsl_loss_estop_rule`).

    "epoch" (default): the plateau rule on each epoch's mean training loss, with a window of `zsl_loss_estop_epochs`
    (5) epochs: training stops once that many epochs in a row fail to come `eps_perc` below the best epoch mean, so a
    small learning rate trains on while its epoch loss falls and a large one stops once it oscillates.
    "iteration": the original's rule on every minibatch's loss with a window of `zsl_loss_estop_window` iterations;
    one lucky minibatch sets the reference, so with a small learning rate it fires while the epoch loss still falls.
    """

    def __init__(self, cfg):
        self.per_iteration = cfg.zsl_loss_estop_rule == "iteration"
        if self.per_iteration:
            self.plateau, self.unit = LossPlateau(cfg.zsl_loss_estop_window, cfg.eps_perc, counter=1), "iterations"
        else:
            self.plateau, self.unit = LossPlateau(cfg.zsl_loss_estop_epochs, cfg.eps_perc), "epochs"

    def after_step(self, loss):
        if self.per_iteration:
            self.plateau.update(loss)

    def after_epoch(self, mean_loss):
        if not self.per_iteration:
            self.plateau.update(mean_loss)

    @property
    def should_stop(self):
        return self.plateau.should_stop

    def describe(self):
        loss = "minibatch loss" if self.per_iteration else "epoch-mean loss"
        return (f"the {loss} did not come more than {self.plateau.eps:g} below its reference for "
                f"{self.plateau.window} {self.unit}")
