"""The original release's trained domain -> alpha maps ("text2alpha" checkpoints, in its ckpt.zip), read by the
variable names its mod2alpha.py gave them, so that mod2alpha.py here predicts with a released map (`text2alpha_ckpt`)
instead of training one, and alpha2w.py runs on its predictions as the original's alpha2w did.

The original built the linear map from two bare `tf.Variable`s (saved as `Variable`: [n_attr, n_alphas] and
`Variable_1`: [n_alphas]) and the deeper maps from `tf.contrib.layers.fully_connected` layers in their default scopes
(`fully_connected`, `fully_connected_1`, ...: `weights` [in, out], `biases` [out]), ReLU between them. Its inputs are
the class's domain vector as given (continuous attributes with -1 read as 0; no normalisation), as here.
"""
import os

import numpy as np

from utils import checkpoints
from utils.cli import UserError

LAYERS = {  # dom2alpha_model -> (weights, biases) variable names, input layer first
    "linear": (("Variable", "Variable_1"),),
    "2layer": tuple((f"{scope}/weights", f"{scope}/biases") for scope in ("fully_connected", "fully_connected_1")),
    "multilayer": tuple((f"{scope}/weights", f"{scope}/biases")
                        for scope in ("fully_connected", "fully_connected_1", "fully_connected_2")),
}


def predict(checkpoint, model, vectors, n_alphas):
    """[n_classes, n_alphas] alphas that the released map at `checkpoint` (a prefix) predicts from `vectors`."""
    if not any(os.path.exists(p) for p in (checkpoint, checkpoint + ".index")):
        raise UserError(f"{checkpoint}: not found; point 'text2alpha_ckpt' at a released map's checkpoint prefix "
                        "(the original's ckpt.zip: ckpt/mod2alpha/mod_<modality>_2alpha_...ckpt), or remove the key "
                        "to train a map")
    checkpoint = checkpoints.checkpoint_prefix(checkpoint)
    reader = checkpoints.reader(checkpoint)
    shapes = reader.get_variable_to_shape_map()
    out = np.asarray(vectors, np.float64)
    for depth, names in enumerate(LAYERS[model]):
        missing = [name for name in names if name not in shapes]
        if missing:
            raise UserError(f"{checkpoint}: has no '{missing[0]}', so it is not the original's text2alpha checkpoint "
                            f"of a {model} map ('dom2alpha_model'); it holds {sorted(shapes)[:6]}")
        weights, biases = (reader.get_tensor(name).astype(np.float64) for name in names)
        if weights.ndim != 2 or weights.shape[0] != out.shape[1] or biases.shape != (weights.shape[1],):
            raise UserError(f"{checkpoint}: layer {depth + 1} maps {list(weights.shape)} (biases "
                            f"{list(biases.shape)}) but receives {out.shape[1]}-d inputs; the map was trained on other "
                            "domain vectors (modality, attribute set) than this config's")
        out = out @ weights + biases
        if depth < len(LAYERS[model]) - 1:
            out = np.maximum(out, 0.0)
    if out.shape[1] != n_alphas:
        raise UserError(f"{checkpoint}: the map predicts {out.shape[1]} alphas but the alpha layer has {n_alphas} "
                        "channels; use the released map of this network and layer")
    return out
