"""The Grad-CAM overlay figure (utils/plots.py): its panels' pixels and layout."""
import matplotlib
import numpy as np
from PIL import Image

from utils import plots


def test_gradcam_figure_shows_the_image_and_half_weight_jet_overlays_enlarged_for_display(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 30, 3)).astype(np.uint8)
    cam = np.zeros((40, 30))
    cam[:20] = 1.0  # given at full size, so the resize keeps it
    path = tmp_path / "cam.png"
    plots.save_gradcam(str(path), image, [("gt: a", cam), ("pred: b", 1.0 - cam)], "img_0001 (conv4)")
    figure = np.asarray(Image.open(path).convert("RGB")).astype(int)
    scale = 6  # the smallest whole factor that makes the 40-pixel side at least GRADCAM_DISPLAY (224)
    top, height, width = 2 * plots.GRADCAM_CAPTION, 40 * scale, 30 * scale
    assert figure.shape == (height + top, 3 * width, 3)

    def enlarged(array):
        return np.repeat(np.repeat(array, scale, 0), scale, 1)
    assert np.array_equal(figure[top:, :width], enlarged(image))
    red, blue = (np.array(matplotlib.colormaps["jet"](v)[:3]) for v in (1.0, 0.0))
    hot = enlarged(cam)[..., None] > 0
    for panel, (where_hot, elsewhere) in ((figure[top:, width:2 * width], (red, blue)),
                                          (figure[top:, 2 * width:], (blue, red))):
        expected = 0.5 * enlarged(image) / 255.0 + 0.5 * np.where(hot, where_hot, elsewhere)
        assert np.abs(panel - 255 * expected).max() <= 1
    assert (figure[:top] < 128).any() and (figure[:top] == 255).mean() > 0.5  # captions: dark text on white


def test_a_title_longer_than_the_figure_wraps_onto_more_lines_instead_of_being_cut(tmp_path):
    image = np.full((64, 64, 3), 200, np.uint8)
    title = "Magenta_Solid_Star_0017.jpg (small_cnn/conv4) true Magenta_Solid_Star, predicted Magenta_Solid_Star " * 2
    plots.save_gradcam(str(tmp_path / "cam.png"), image, [("gt", np.ones((8, 8))), ("pred", np.ones((8, 8)))], title)
    figure = np.asarray(Image.open(tmp_path / "cam.png").convert("L")).astype(int)
    width = 3 * 256  # 64-pixel panels enlarged 4x
    lines = -(-len(title) // (width // plots.GRADCAM_CHAR_WIDTH))
    assert lines == 2 and figure.shape == (256 + (lines + 1) * plots.GRADCAM_CAPTION, width)
    for line in range(lines):  # every line of the title holds text
        band = figure[line * plots.GRADCAM_CAPTION:(line + 1) * plots.GRADCAM_CAPTION]
        assert (band < 128).any()
