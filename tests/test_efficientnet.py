"""EfficientNet-Lite0: the slim network, the conversion of the packaged ImageNet weights (no torch needed), and proof
that the port is right: real photographs shipped inside installed packages are recognised, logits equal a PyTorch
forward pass of the same weights (where torch is installed), and CUB's ImageNet bird classes are recognised."""
import importlib.util
import os
import pickle

import numpy as np
import pytest

from helpers import last_error_line, run_script, slow_fixture
from utils import checkpoints, efficientnet_lite, input_pipeline, nets_factory, pth_reader
from utils.cli import UserError
from utils.tf_compat import tf, tf1

sklearn_images = os.path.join(os.path.dirname(importlib.util.find_spec("sklearn").origin), "datasets", "images")
# photo -> (ImageNet classes the top-1 must be one of, classes that must all be in the top 5)
PHOTOS = {
    "skimage:chelsea.png": ({281, 282, 283, 284, 285}, set()),  # tabby cat: cat classes fill the top 3 (below)
    "skimage:coffee.png": ({967}, {968}),                       # espresso; cup
    "skimage:camera.png": ({872}, set()),                       # cameraman: tripod
    "sklearn:china.jpg": ({698}, {663}),                        # palace; monastery
}
CUB_IMAGENET = {1: 146, 2: 146, 3: 146, 14: 14, 47: 11}  # albatrosses, indigo bunting, goldfinch


def photo_path(name):
    package, file_name = name.split(":")
    if package == "sklearn":
        return os.path.join(sklearn_images, file_name)
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        pytest.skip("scikit-image (requirements.txt) is not installed: its sample photos are missing")
    return os.path.join(spec.submodule_search_locations[0], "data", file_name)


@slow_fixture(scope="module")
def converted(tmp_path_factory):
    """The packaged weights converted by the user's command into a temporary checkpoint."""
    out = str(tmp_path_factory.mktemp("lite0") / "efficientnet_lite0.ckpt")
    done = run_script("seen_pretraining/convert_efficientnet_lite0.py", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "247 variables, 4.69 M values" in done.stdout
    return out


def imagenet_outputs(ckpt, paths):
    """Eval-preprocessed inputs [N, 224, 224, 3] and 1000-class logits of the converted network."""
    graph = tf.Graph()
    with graph.as_default():
        images = input_pipeline.eval_images(paths=tf.constant(paths), preprocessing_name="efficientnet_preprocessing",
                                            image_size=224, batch_size=64)
        batch = tf1.data.make_one_shot_iterator(images).get_next()
        logits, _ = nets_factory.get_network_fn("efficientnet_lite0", 1000)(batch)
        restore = checkpoints.restore_fn(ckpt)
    inputs, outputs = [], []
    with tf1.Session(graph=graph) as sess:
        restore(sess)
        while True:
            try:
                x, y = sess.run([batch, logits])
            except tf.errors.OutOfRangeError:
                break
            inputs.append(x), outputs.append(y)
    return np.concatenate(inputs), np.concatenate(outputs)


def test_the_network_declares_what_the_stages_need():
    graph = tf.Graph()
    with graph.as_default():
        network_fn = nets_factory.get_network_fn("efficientnet_lite0", 40, is_training=True)
        logits, end_points = network_fn(tf1.placeholder(tf.float32, [2, 224, 224, 3]))
        features = nets_factory.penultimate_features(network_fn.spec, end_points)
        variables = {v.op.name: v.shape.as_list() for v in tf1.global_variables()}
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
    spec = network_fn.spec
    assert logits.shape.as_list() == [2, 40] and features.shape.as_list() == [2, 1280]
    assert end_points[spec.alpha_layer].shape.as_list() == [2, 7, 7, spec.alpha_channels] == [2, 7, 7, 320]
    assert variables[f"{spec.logits_scope}/weights"] == [1280, 40]
    assert variables["efficientnet_lite0/blocks_11/depthwise/depthwise_weights"] == [5, 5, 672, 1]
    assert sorted(variables) == sorted(name for name, _, _ in efficientnet_lite.weight_map())
    assert len(updates) == 2 * 49  # moving mean and variance of every batch norm


def test_packaged_photos_are_recognised_in_the_top_5(converted):
    names = list(PHOTOS)
    _, logits = imagenet_outputs(converted, [photo_path(n) for n in names])
    for name, row in zip(names, logits):
        top5 = [int(i) for i in np.argsort(-row)[:5]]
        top1_choices, in_top5 = PHOTOS[name]
        assert top5[0] in top1_choices and in_top5 <= set(top5), (name, top5)
    cat_top3 = np.argsort(-logits[names.index("skimage:chelsea.png")])[:3]
    assert set(cat_top3.tolist()) <= {281, 282, 283, 284, 285}


def torch_forward(torch, state, images):
    """An independent PyTorch forward pass of Lite0 (TF 'SAME' padding written out), on NHWC float inputs."""
    F = torch.nn.functional
    w = {k: torch.from_numpy(v) for k, v in state.items()}

    def same_conv(x, weight, stride, groups=1):
        k = weight.shape[-1]
        size = x.shape[-1]
        pad = max((-(-size // stride) - 1) * stride + k - size, 0)
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.conv2d(x, weight, stride=stride, groups=groups)

    def bn(x, name):
        return F.batch_norm(x, w[f"{name}.running_mean"], w[f"{name}.running_var"], w[f"{name}.weight"],
                            w[f"{name}.bias"], training=False, eps=1e-3)

    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    x = F.relu6(bn(same_conv(x, w["_conv_stem.weight"], 2), "_bn0"))
    for i, (_kernel, stride, expand, channels) in enumerate(efficientnet_lite.BLOCKS):
        block, inputs = f"_blocks.{i}", x
        if expand != 1:
            x = F.relu6(bn(same_conv(x, w[f"{block}._expand_conv.weight"], 1), f"{block}._bn0"))
        x = F.relu6(bn(same_conv(x, w[f"{block}._depthwise_conv.weight"], stride, groups=x.shape[1]),
                       f"{block}._bn1"))
        x = bn(same_conv(x, w[f"{block}._project_conv.weight"], 1), f"{block}._bn2")
        if stride == 1 and inputs.shape[1] == channels:
            x = x + inputs
    x = F.relu6(bn(same_conv(x, w["_conv_head.weight"], 1), "_bn1")).mean((2, 3))
    return F.linear(x, w["_fc.weight"], w["_fc.bias"]).numpy()


def test_logits_match_a_pytorch_forward_pass_of_the_same_weights(converted):
    torch = pytest.importorskip("torch", reason="torch is optional (only this comparison uses it)")
    from seen_pretraining.convert_efficientnet_lite0 import packaged_pth
    state = {k: v.float().numpy() for k, v in torch.load(packaged_pth(), map_location="cpu").items()
             if not k.endswith("num_batches_tracked")}
    inputs, logits = imagenet_outputs(converted, [photo_path(n) for n in PHOTOS])
    with torch.no_grad():
        expected = torch_forward(torch, state, inputs)
    assert np.abs(logits - expected).max() < 1e-3
    assert (np.argmax(expected, 1) == np.argmax(logits, 1)).all()


def test_the_reader_agrees_with_torch_load_on_both_file_formats(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is optional (only this comparison uses it)")
    from seen_pretraining.convert_efficientnet_lite0 import packaged_pth
    legacy = packaged_pth()
    zipped = str(tmp_path / "zipped.pth")
    reference = torch.load(legacy, map_location="cpu")
    torch.save({k: v[:2] if v.ndim else v for k, v in reference.items()}, zipped)  # slices: views of storages
    for path in (legacy, zipped):
        ours, theirs = pth_reader.read_state_dict(path), torch.load(path, map_location="cpu")
        assert list(ours) == list(theirs)
        assert all(np.array_equal(ours[k], theirs[k].numpy()) for k in theirs)


class _Payload:
    def __reduce__(self):
        return os.system, ("echo owned",)


def test_a_pth_that_would_run_code_or_is_cut_short_is_refused(tmp_path):
    from seen_pretraining.convert_efficientnet_lite0 import packaged_pth
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        for part in (pth_reader.LEGACY_MAGIC, 1001, {"little_endian": True}, _Payload()):
            pickle.dump(part, f, protocol=2)
    with pytest.raises(UserError, match="'posix.system'.*refusing to unpickle"):
        pth_reader.read_state_dict(str(evil))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(open(packaged_pth(), "rb").read()[:5_000_000])
    out = tmp_path / "out" / "lite0.ckpt"
    done = run_script("seen_pretraining/convert_efficientnet_lite0.py", "--pth", str(cut), "--out", str(out))
    assert done.returncode == 2 and last_error_line(done).startswith(f"error: {cut}: ")
    assert "download the file again" in last_error_line(done) or "not a readable" in last_error_line(done)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_cub_classes_that_are_imagenet_classes_are_recognised(converted, shared_data):
    cub = os.path.join(shared_data, "CUB")
    images = [line.split() for line in open(os.path.join(cub, "images.txt"))]
    chosen = [(os.path.join(cub, "images", path), CUB_IMAGENET[int(path[:3])]) for _, path in images
              if int(path[:3]) in CUB_IMAGENET]
    assert len(chosen) == 298  # 60 + 60 + 58 + 60 + 60 (the 358 does not add up for these classes)
    _, logits = imagenet_outputs(converted, [p for p, _ in chosen])
    truth = np.array([c for _, c in chosen])
    top1 = float(np.mean(np.argmax(logits, 1) == truth))
    top5 = float(np.mean([t in np.argsort(-row)[:5] for t, row in zip(truth, logits)]))
    print(f"CUB ImageNet classes: top-1 {top1:.3f} top-5 {top5:.3f}")
    assert top1 >= 0.9 and top5 >= 0.97, (top1, top5)
