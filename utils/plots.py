"""Figures as PNG (matplotlib without a display): training curves, seen-unseen curves, Grad-CAM overlays; and
TensorBoard scalars."""
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from utils import fileio  # noqa: E402
from utils.tf_compat import tf1  # noqa: E402


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
    _save(fig, path)


GRADCAM_CAPTION = 14  # pixels of a line of text: each panel's label, and each line of the title above them
GRADCAM_CHAR_WIDTH = 6  # pixels of a character of PIL's default font
GRADCAM_DISPLAY = 224  # smallest panel side shown


def gradcam_panels(image, cams):
    """[image, then each Grad-CAM map in [0, 1] (any size) upsampled and overlaid in 'jet' at half weight] as uint8
    arrays of the image's size."""
    height, width = image.shape[:2]
    panels = [np.asarray(image, np.uint8)]
    for cam in cams:
        heat = Image.fromarray(np.uint8(np.clip(cam, 0, 1) * 255)).resize((width, height), Image.BILINEAR)
        colour = matplotlib.colormaps["jet"](np.asarray(heat) / 255.0)[..., :3]
        panels.append(np.uint8(np.round(255 * (0.5 * image / 255.0 + 0.5 * colour))))
    return panels


def save_gradcam(path, image, cams, title):
    """PNG of the image beside each (label, Grad-CAM map) overlay, with the label above each panel and the title
    above all, wrapped to the figure's width; drawn with PIL (a matplotlib figure took 0.24 s an image, 50 of them a
    quarter of a CUB extraction). Panels smaller than GRADCAM_DISPLAY pixels are enlarged by a whole factor (pixels
    kept sharp), so that a 64-pixel image is seen and its labels fit."""
    from PIL import ImageDraw
    height, width = image.shape[:2]
    scale = max(1, -(-GRADCAM_DISPLAY // max(height, width)))
    panels = [Image.fromarray(p).resize((width * scale, height * scale), Image.NEAREST)
              for p in gradcam_panels(image, [cam for _, cam in cams])]
    width, height = width * scale, height * scale
    title_lines = textwrap.wrap(title, max(1, len(panels) * width // GRADCAM_CHAR_WIDTH)) or [""]
    top = GRADCAM_CAPTION * (len(title_lines) + 1)
    canvas = Image.new("RGB", (len(panels) * width, height + top), "white")
    draw = ImageDraw.Draw(canvas)
    for row, line in enumerate(title_lines):
        draw.text((2, 1 + row * GRADCAM_CAPTION), line, fill="black")
    for i, (label, panel) in enumerate(zip(["input"] + [label for label, _ in cams], panels)):
        canvas.paste(panel, (i * width, top))
        draw.text((i * width + 2, top - GRADCAM_CAPTION + 1), label[:width // GRADCAM_CHAR_WIDTH], fill="black")
    with fileio.atomic_path(path) as tmp:
        canvas.save(tmp, format="png")


def plot_seen_unseen_curve(path, curve, area, marks, title):
    """The seen-unseen accuracy curve of calibrated stacking (S against U over gamma) with named points marked."""
    _, s, u = curve
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(u, s, drawstyle="default", label=f"AUSUC {area:.3f}")
    for label, (point_u, point_s) in marks.items():
        ax.plot([point_u], [point_s], marker="o", linestyle="none", label=f"{label}: U {point_u:.3f} S {point_s:.3f}")
    _save_seen_unseen(fig, ax, path, title, legend_size=8)


def write_scalars(writer, row, keys, step):
    """TensorBoard scalars `keys` of a history row (a tf1.summary.FileWriter), flushed at once."""
    writer.add_summary(tf1.Summary(value=[tf1.Summary.Value(tag=k, simple_value=row[k]) for k in keys]), step)
    writer.flush()


def plot_curves_together(path, curves, title):
    """Several methods' seen-unseen accuracy curves (name -> (gammas, S, U)) on the same axes, with their AUSUC."""
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, (_, s, u) in curves.items():
        ax.plot(u, s, label=f"{name} (AUSUC {float(np.trapezoid(s, u)):.3f})")
    _save_seen_unseen(fig, ax, path, title, legend_size=7)


def _save_seen_unseen(fig, ax, path, title, legend_size):
    """The axes of a seen-unseen accuracy plot (U across, S up, both 0-1), then the PNG."""
    ax.set_xlabel("U: unseen test accuracy (per class, over all classes)")
    ax.set_ylabel("S: seen test accuracy (per class, over all classes)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    _save(fig, path)


def _save(fig, path):
    """Write the figure as a PNG (atomically) and free it."""
    fig.tight_layout()
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
