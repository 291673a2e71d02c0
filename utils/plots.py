"""Training curves as PNG (matplotlib without a display)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils import io  # noqa: E402


def plot_curves(path, history, keys, ylabel, title):
    """One line per key of `history` (a list of per-epoch dicts), against the epoch number."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = list(range(1, len(history) + 1))
    for key in keys:
        ax.plot(epochs, [row[key] for row in history], label=key, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
