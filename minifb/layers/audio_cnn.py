"""Convolutional networks for keyword spotting on log-mel spectrograms: AudioCNN and FeedbackAudioCNN.

The same kind of 3-conv trunk as the CIFAR CNN (docs/design.md, "Contextual feedback loops": 1 s
clips, 40 log-mel bands, about 100 frames), with a global average pool before the Linear layers
so that any number of frames works:

    conv3x3 1-32, ReLU                                 stage 1: (N, 32, 40, T)
    conv3x3 32-64, ReLU, maxpool 2                     stage 2: (N, 64, 20, T/2)
    conv3x3 64-128, ReLU, maxpool 2                    stage 3: (N, 128, 10, T/4)
    global average pool, Linear 128-256, ReLU          stage 4: (N, 256)
    Dropout 0.5, Linear 256-12                         head (12 classes: the 10 keywords,
                                                       unknown, silence)
"""
from __future__ import annotations

from .. import checks
from .activation import Dropout, Flatten, ReLU
from .cnn import conv_stage
from .conv import AdaptiveAvgPool2d
from .feedback import ContextualFeedback, StagedNetwork
from .linear import Linear
from .module import ModuleList, Sequential


class AudioCNN(StagedNetwork):
    """Log-mel input (N, in_channels, n_mels, frames), float32 -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 12, in_channels: int = 1, widths=(32, 64, 128), hidden: int = 256,
                 dropout: float = 0.5):
        for label, value in (("num_classes", num_classes), ("in_channels", in_channels), ("hidden", hidden)):
            checks.integer("AudioCNN", label, value, 1)
        checks.number("AudioCNN", "dropout", dropout, 0, 1)
        checks.sizes("AudioCNN", "widths", widths, 3)
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"AudioCNN: needs three conv widths, got {widths}")
        w1, w2, w3 = widths
        self.num_classes, self.in_channels = num_classes, in_channels
        self.stem = None
        self.stages = ModuleList([conv_stage(in_channels, w1, pool=False), conv_stage(w1, w2, pool=True),
                                  conv_stage(w2, w3, pool=True),
                                  Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear(w3, hidden), ReLU())])
        self.head = Sequential(Dropout(dropout), Linear(hidden, num_classes))
        self.stage_features = [(w1, 1), (w2, 1), (w3, 1), (hidden, -1)]

    def check_input(self, x) -> None:
        # Two 2x2 pools: at least 4 bands and 4 frames.
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] < 4 or x.shape[3] < 4:
            raise ValueError(f"{type(self).__name__}: expected log-mel input of shape (N, "
                             f"{self.in_channels}, n_mels >= 4, frames >= 4), got {tuple(x.shape)}")


class FeedbackAudioCNN(ContextualFeedback):
    """The AudioCNN trunk without dropout inside contextual feedback loops (T = 2 by default)."""

    def __init__(self, num_classes: int = 12, in_channels: int = 1, widths=(32, 64, 128), hidden: int = 256,
                 **feedback):
        super().__init__(AudioCNN(num_classes, in_channels, widths, hidden, dropout=0.0), **feedback)
