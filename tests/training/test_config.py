"""The YAML config: typed, overridable, and strict about unknown keys."""

import pytest

from ridgeline.errors import ConfigError
from ridgeline.training.config import load_config


def test_minimal_config_has_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train_file: a.xyz\ntest_file: b.xyz\noutput_dir: out\nmodel:\n  name: bpnn\n")
    c = load_config(path)
    assert c.train_file == "a.xyz" and c.model.name == "bpnn" and c.model.preset == "medium"
    assert c.training.lr > 0 and c.training.batch_size >= 1 and c.keys.energy == "REF_energy"


def test_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train_file: a.xyz\n")
    c = load_config(path, ["training.lr=1e-4", "model.preset=small", "model.hidden=[16, 8]", "dtype=float64", "training.max_time=2"])
    assert c.training.lr == 1e-4 and c.model.preset == "small" and c.model.hyperparameters == {"hidden": [16, 8]}
    assert c.dtype == "float64" and c.training.max_time == 2.0


@pytest.mark.parametrize(
    "text, match",
    [
        ("train_file: a.xyz\nlearning_rate: 1\n", r"unknown config key 'learning_rate'; valid keys: train_file, test_file"),
        ("train_file: a.xyz\ntraining:\n  lrr: 1\n", r"unknown config key 'training.lrr'; valid keys of training: epochs"),
        ("train_file: a.xyz\nmodel:\n  hiden: [4]\n", r"unknown config key 'model.hiden'.*valid keys of model: name, preset, cutoff, n_radial"),
        ("train_file: a.xyz\nmodel:\n  name: nope\n", r"unknown architecture 'nope'; available: bpnn"),
        ("train_file: a.xyz\ntraining:\n  epochs: many\n", r"'training.epochs': expected int"),
        ("test_file: b.xyz\n", r"'train_file' is required"),
        ("train_file: [a\n", r"not valid YAML"),
    ],
)
def test_bad_configs(tmp_path, text, match):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_bad_override():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(base={"train_file": "a"}, overrides=["training.lr"])


def test_validation_split_keys():
    c = load_config(base={"train_file": "a"})
    assert c.training.valid_split == "random" and c.training.valid_block == 10
    c = load_config(base={"train_file": "a"}, overrides=["training.valid_split=block", "training.valid_block=4"])
    assert c.training.valid_split == "block" and c.training.valid_block == 4
    with pytest.raises(ConfigError, match="'training.valid_split': expected one of random, block"):
        load_config(base={"train_file": "a"}, overrides=["training.valid_split=blocks"])
    with pytest.raises(ConfigError, match="'training.valid_block'"):
        load_config(base={"train_file": "a"}, overrides=["training.valid_split=block", "training.valid_block=0"])


def test_cutoff_comes_from_the_preset_unless_given():
    """model.cutoff unset: the preset's cutoff (moment medium: 6.5 Å), else the architecture's
    default (5 Å); an explicit cutoff wins and must be positive."""
    from ridgeline.models import ARCHITECTURES

    assert load_config(base={"train_file": "a", "model": {"name": "bpnn"}}).model.cutoff == 5.0
    assert load_config(base={"train_file": "a", "model": {"name": "moment"}}).model.cutoff == ARCHITECTURES["moment"][1]["medium"]["cutoff"] == 6.5
    assert load_config(base={"train_file": "a", "model": {"name": "moment", "preset": "small"}}).model.cutoff == 5.0
    assert load_config(base={"train_file": "a", "model": {"name": "moment", "cutoff": 4.5}}).model.cutoff == 4.5
    with pytest.raises(ConfigError, match="'model.cutoff'"):
        load_config(base={"train_file": "a", "model": {"name": "moment", "cutoff": -1.0}})


def test_keys_section_is_the_readers_key_map():
    """The config's ``keys`` are the readers' KeyMap itself (one class, defaults from
    ridgeline.names); the YAML is written as before and unknown keys list the valid ones."""
    from ridgeline.data import KeyMap
    from ridgeline.names import DEFAULT_LABEL_KEYS

    c = load_config(base={"train_file": "a", "keys": {"energy": "E", "config_type": "kind"}})
    assert isinstance(c.keys, KeyMap) and c.keys == KeyMap(energy="E", config_type="kind")
    assert vars(load_config(base={"train_file": "a"}).keys) == vars(KeyMap()) == DEFAULT_LABEL_KEYS
    assert c.to_dict()["keys"] == {"energy": "E", "forces": "REF_forces", "stress": "REF_stress", "config_type": "kind"}
    with pytest.raises(ConfigError, match=r"unknown config key 'keys.enrgy'; valid keys of keys: energy, forces, stress, config_type"):
        load_config(base={"train_file": "a", "keys": {"enrgy": "E"}})
