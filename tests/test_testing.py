"""minifb.testing without PyTorch: NameMap (names and layouts of other implementations), reference files."""
import json

import numpy as np
import pytest

from minifb import models, reference
from minifb.testing import CBL_CNN_UPSTREAM, FFTNET_B3CC304, NameMap, reference_arrays

SMALL_POST_NORM = {"image_size": 8, "patch": 4, "dim": 6, "depth": 2, "heads": 3, "mlp_ratio": 4, "mixer_norm": "post"}


def test_the_fftnet_map_names_every_weight_once_and_reshapes_only_the_patch_embedding():
    weights = models.create("fftnet-vit", **SMALL_POST_NORM).state_dict()
    names = FFTNET_B3CC304.names(weights)
    assert names["stem.proj.weight"] == "patch_embed.proj.weight" and names["stem.pos_embedding"] == "pos_embed"
    assert names["stages.1.norm1.bias"] == "blocks.1.attention.norm.bias"
    assert names["stages.1.norm2.weight"] == "blocks.1.norm.weight"
    assert names["stages.0.mixer.filter.modulation.2.weight"] == "blocks.0.attention.adaptive_mlp.2.weight"
    assert names["stages.0.mixer.filter.w_base"] == "blocks.0.attention.base_filter"
    assert names["stages.0.mixer.filter.bias"] == "blocks.0.attention.modrelu_bias"
    assert names["stages.1.mlp.fc2.bias"] == "blocks.1.mlp.3.bias" and names["head.linear.weight"] == "head.weight"
    # The other side's shapes: the patch embedding as a Conv2d (D, C, p, p), the rest as they are.
    shapes = {other: weights[name].shape for name, other in names.items()}
    shapes["patch_embed.proj.weight"] = (6, 3, 4, 4)
    state = FFTNET_B3CC304.to_other(weights, shapes)
    assert state["patch_embed.proj.weight"].shape == (6, 3, 4, 4)
    # (c, i, j) order: the Linear's column c p p + i p + j is the kernel's [c, i, j]
    np.testing.assert_array_equal(state["patch_embed.proj.weight"][:, 2, 1, 3], weights["stem.proj.weight"][:, 2 * 16 + 7])
    back = FFTNET_B3CC304.to_minifb(state, weights)
    assert back.keys() == weights.keys() and all(np.array_equal(back[k], weights[k]) for k in weights)


def test_the_cbl_map_and_its_upstream_only_adapters():
    weights = models.create("feedback-cnn", alpha="raw").state_dict()
    names = CBL_CNN_UPSTREAM.names(weights)
    assert set(names.values()) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight",
                                   "conv3.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "g.weight",
                                   "g.bias", "adapter_fc1.0.weight", "adapter_fc1.0.bias", "alpha"}
    assert weights["alphas"].shape == (1,)
    assert CBL_CNN_UPSTREAM.is_other_only("adapter_conv2.0.weight") and not CBL_CNN_UPSTREAM.is_other_only("fc1.bias")
    grads = {other: weights[name] for name, other in names.items()}
    grads.update({"adapter_conv1.0.weight": np.zeros(3), "adapter_conv3.0.bias": None, "fc2.bias": None})
    back = CBL_CNN_UPSTREAM.to_minifb(grads, weights)  # other-only names and None gradients are left out
    assert set(back) == set(weights) - {"network.head.1.bias"}


def test_name_map_errors_name_what_is_wrong():
    two_onto_one = NameMap([(r"^a\.", "x."), (r"^b\.", "x.")])
    with pytest.raises(ValueError, match=r"'a.w' and 'b.w' both map onto 'x.w'"):
        two_onto_one.names(["a.w", "b.w"])
    identity = NameMap([])
    with pytest.raises(ValueError, match=r"'w' has shape \(2, 3\), its counterpart 'w' has shape \(3, 2\)"):
        identity.to_other({"w": np.zeros((2, 3))}, {"w": (3, 2)})  # a transposed layout is not reshaped
    with pytest.raises(KeyError, match="which the given shapes do not have"):
        identity.to_other({"w": np.zeros(2)}, {"v": (2,)})
    with pytest.raises(KeyError, match="'u' is no minifb name's counterpart"):
        identity.to_minifb({"u": np.zeros(2)}, {"w": (2,)})
    with pytest.raises(ValueError, match="pass shapes"):
        identity.to_minifb({"w": np.zeros(2)})


def test_a_reference_file_holds_every_effective_setting(tmp_path):
    arrays = reference.export("feedback-cnn", batch=1, settings={"widths": [2, 2, 2], "hidden": 4, "image_size": 8})
    settings = json.loads(str(arrays["config"]))["settings"]
    assert settings == {**models.settings("feedback-cnn"), "widths": [2, 2, 2], "hidden": 4, "image_size": 8}
    assert settings["context_dim"] == 64 and settings["steps_eval"] == 2 and settings["alpha"] == "learnable"
    rebuilt = models.create("feedback-cnn", **settings)  # the file alone rebuilds the model
    weights = reference_arrays(arrays)
    assert weights.keys() == rebuilt.state_dict().keys() and "grad/context.weight" in arrays
    assert reference_arrays(arrays, "grad/").keys() == dict(rebuilt.named_parameters()).keys()
