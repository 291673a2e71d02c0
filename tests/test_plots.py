"""The Grad-CAM overlay figure (utils/plots.py): its panels' pixels and layout."""
import matplotlib
import numpy as np
from PIL import Image

from utils import plots


def test_gradcam_figure_shows_the_image_and_half_weight_jet_overlays_at_the_images_resolution(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 30, 3)).astype(np.uint8)
    cam = np.zeros((40, 30))
    cam[:20] = 1.0  # given at full size, so the resize keeps it
    path = tmp_path / "cam.png"
    plots.save_gradcam(str(path), image, [("gt: a", cam), ("pred: b", 1.0 - cam)], "img_0001 (conv4)")
    figure = np.asarray(Image.open(path).convert("RGB")).astype(int)
    top = 2 * plots.GRADCAM_CAPTION
    assert figure.shape == (40 + top, 3 * 30, 3)
    assert np.array_equal(figure[top:, :30], image)
    red, blue = (np.array(matplotlib.colormaps["jet"](v)[:3]) for v in (1.0, 0.0))
    hot = cam[..., None] > 0
    for panel, (where_hot, elsewhere) in ((figure[top:, 30:60], (red, blue)), (figure[top:, 60:], (blue, red))):
        expected = 0.5 * image / 255.0 + 0.5 * np.where(hot, where_hot, elsewhere)
        assert np.abs(panel - 255 * expected).max() <= 1
    assert (figure[:top] < 128).any() and (figure[:top] == 255).mean() > 0.5  # captions: dark text on white
