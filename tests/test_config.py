import json

import pytest

from utils.cli import UserError
from utils.config import Field, load_config

SCHEMA = {
    "batch_size": Field((int,)),
    "learning_rate": Field((float,), default=0.001),
    "finetune_whole_cnn": Field((bool,), default=False),
    "model_class": Field((str,), choices=("vgg_16", "resnet_v1_101")),
}


def write(tmp_path, obj):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(path)


def test_valid_config_fills_defaults_and_reads_integers_as_floats(tmp_path):
    cfg = load_config(write(tmp_path, {"batch_size": 64, "learning_rate": 1, "model_class": "vgg_16"}), SCHEMA)
    assert (cfg.batch_size, cfg.learning_rate, cfg.finetune_whole_cnn) == (64, 1.0, False)
    assert isinstance(cfg.learning_rate, float)


@pytest.mark.parametrize("raw, words", [
    ({"batch_size": 64, "model_class": "vgg_16", "batchsize": 3}, ["unknown key 'batchsize'"]),
    ({"model_class": "vgg_16"}, ["missing required key 'batch_size'"]),
    ({"batch_size": "64", "model_class": "vgg_16"}, ["'batch_size' must be an integer", '"64"']),
    ({"batch_size": 64, "model_class": "vgg_16", "finetune_whole_cnn": "False"}, ["'finetune_whole_cnn'", "boolean"]),
    ({"batch_size": True, "model_class": "vgg_16"}, ["'batch_size' must be an integer"]),
    ({"batch_size": 64, "model_class": "vgg16"}, ["'model_class'", '"resnet_v1_101"']),
])
def test_bad_configs_name_the_file_and_the_key(tmp_path, raw, words):
    path = write(tmp_path, raw)
    with pytest.raises(UserError) as err:
        load_config(path, SCHEMA)
    message = str(err.value)
    assert message.startswith(path) and "\n" not in message
    for word in words:
        assert word in message


def test_invalid_json_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="not valid JSON.*line 1"):
        load_config(write(tmp_path, '{"batch_size": 64,,}'), SCHEMA)
    with pytest.raises(UserError, match="config file not found"):
        load_config(str(tmp_path / "absent.json"), SCHEMA)
