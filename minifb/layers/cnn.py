"""The CIFAR-10 convolutional networks of the contextual feedback loops source: CNN and FeedbackCNN.

Architecture (docs/design.md, "Contextual feedback loops"; widths configurable, defaults shown):

    conv3x3 3-32, ReLU                                 stage 1: (N, 32, 32, 32)
    conv3x3 32-64, ReLU, maxpool 2                     stage 2: (N, 64, 16, 16)
    conv3x3 64-128, ReLU, maxpool 2                    stage 3: (N, 128, 8, 8)
    flatten, Linear 8192-256, ReLU                     stage 4: (N, 256)
    Dropout 0.5, Linear 256-10                         head

Convolutions use padding 1, so only the pools shrink the image. FeedbackCNN is the same trunk
without dropout, wrapped in contextual feedback (T = 2 by default).
"""
from __future__ import annotations

from .. import checks
from .activation import Dropout, Flatten, ReLU
from .conv import Conv2d, MaxPool2d
from .feedback import ContextualFeedback, StagedNetwork
from .linear import Linear
from .module import ModuleList, Sequential


def conv_stage(in_channels: int, out_channels: int, pool: bool) -> Sequential:
    """conv3x3 (padding 1), ReLU and, when ``pool``, a 2x2 max-pool."""
    layers = [Conv2d(in_channels, out_channels, 3, padding=1), ReLU()]
    if pool:
        layers.append(MaxPool2d(2))
    return Sequential(*layers)


class CNN(StagedNetwork):
    """The plain CIFAR-10 CNN (see the module docstring): NCHW float32 images -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 widths=(32, 64, 128), hidden: int = 256, dropout: float = 0.5):
        for label, value in (("num_classes", num_classes), ("in_channels", in_channels),
                             ("image_size", image_size), ("hidden", hidden)):
            checks.integer("CNN", label, value, 1)
        checks.number("CNN", "dropout", dropout, 0, 1)
        checks.sizes("CNN", "widths", widths, 3)
        super().__init__()
        if image_size % 4:
            raise ValueError(f"CNN: needs three conv widths and an image size divisible by 4, "
                             f"got widths={widths}, image_size={image_size}")
        w1, w2, w3 = widths
        self.num_classes, self.in_channels, self.image_size = num_classes, in_channels, image_size
        self.image_shape = (in_channels, image_size, image_size)
        flat = w3 * (image_size // 4) ** 2
        self.stem = None
        self.stages = ModuleList([conv_stage(in_channels, w1, pool=False), conv_stage(w1, w2, pool=True),
                                  conv_stage(w2, w3, pool=True),
                                  Sequential(Flatten(), Linear(flat, hidden), ReLU())])
        self.head = Sequential(Dropout(dropout), Linear(hidden, num_classes))
        self.stage_features = [(w1, 1), (w2, 1), (w3, 1), (hidden, -1)]


class FeedbackCNN(ContextualFeedback):
    """The CNN trunk without dropout inside contextual feedback loops (T = 2 by default).

    ``feedback`` takes ContextualFeedback's settings: context_dim, mode, alpha, steps_train,
    steps_eval, step_loss.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 widths=(32, 64, 128), hidden: int = 256, **feedback):
        network = CNN(num_classes, in_channels, image_size, widths, hidden, dropout=0.0)
        super().__init__(network, **feedback)
