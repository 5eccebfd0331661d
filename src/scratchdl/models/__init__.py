"""The book's networks, each a stack of `scratchdl.layers` (see `models.base.Net`)."""

from scratchdl.models.base import Net
from scratchdl.models.deep_conv_net import DeepConvNet
from scratchdl.models.multi_layer_net import MultiLayerNet, MultiLayerNetExtend
from scratchdl.models.simple_conv_net import SimpleConvNet
from scratchdl.models.two_layer_net import TwoLayerNet

MODELS = {
    "two-layer": TwoLayerNet,
    "multi-layer": MultiLayerNetExtend,
    "simple-conv": SimpleConvNet,
    "deep-conv": DeepConvNet,
}
"""Model names used by the command line and recorded in model files."""


def build_model(config: dict, **kwargs) -> Net:
    """Build a model from its recorded `config` ({"model": name, **constructor args})."""
    config = dict(config)
    name = config.pop("model")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](**config, **kwargs)


__all__ = [
    "MODELS", "DeepConvNet", "MultiLayerNet", "MultiLayerNetExtend", "Net", "SimpleConvNet",
    "TwoLayerNet", "build_model",
]
