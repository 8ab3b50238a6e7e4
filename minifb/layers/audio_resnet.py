"""A small residual CNN with batch norm for keyword spotting: AudioResNet and FeedbackAudioResNet.

The plain 3-conv audio trunk (audio_cnn.py) has no normalisation and learns slowly from a few
thousand clips. Keyword-spotting networks that do well on Speech Commands normalise every
convolution and pool early: this one follows the shape of Tang & Lin's res8 (2018: a 3x3 conv,
a 4x3 average pool, three residual blocks of two 3x3 convs, a global average pool), with the
He et al. (2016) order conv -> batch norm -> ReLU and the residual added before the last ReLU.
Defaults (40 log-mel bands, 98 frames in):

    conv3x3 1-C, BN, ReLU, avgpool 4x3                 stage 1: (N, C, 10, 32)
    x + BN(conv(ReLU(BN(conv(x))))), ReLU              stages 2-4: residual blocks, (N, C, 10, 32)
    global average pool, Linear C-hidden, ReLU         stage 5: (N, hidden)
    Dropout, Linear hidden-12                          head

C = 64 and hidden = 128 by default. The convolutions have no bias (batch norm's shift takes
its place). FeedbackAudioResNet wraps the same network without dropout in contextual feedback
loops; in all-stages mode every block is refined and the later ones recomputed.
"""
from __future__ import annotations

from ..autograd.conv import as_pair
from ..autograd.unary import relu
from .activation import Dropout, Flatten, ReLU
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d
from .feedback import ContextualFeedback, StagedNetwork
from .linear import Linear
from .module import Module, ModuleList, Sequential
from .normalization import BatchNorm2d


class ResidualBlock(Module):
    """relu(x + BN(conv3x3(relu(BN(conv3x3(x)))))) at a fixed width and resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(channels)
        self.conv2 = Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(channels)

    def forward(self, x):
        h = relu(self.bn1(self.conv1(x)))
        return relu(x + self.bn2(self.conv2(h)))


class AudioResNet(StagedNetwork):
    """Log-mel input (N, in_channels, n_mels, frames), float32 -> logits (N, num_classes).

    width: channels of every convolution; blocks: number of residual blocks; pool: the average
    pool after the first convolution (frequency, time); hidden: width of the Linear layer before
    the head.
    """

    def __init__(self, num_classes: int = 12, in_channels: int = 1, width: int = 64, blocks: int = 3,
                 pool=(4, 3), hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        if blocks < 1 or width < 1 or hidden < 1:
            raise ValueError(f"AudioResNet: width, blocks and hidden must be at least 1, "
                             f"got width={width}, blocks={blocks}, hidden={hidden}")
        self.num_classes, self.in_channels = num_classes, in_channels
        self.pool = as_pair("AudioResNet", "pool", pool, 1)
        self.stem = None
        first = Sequential(Conv2d(in_channels, width, 3, padding=1, bias=False), BatchNorm2d(width), ReLU(),
                           AvgPool2d(self.pool))
        last = Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear(width, hidden), ReLU())
        self.stages = ModuleList([first, *[ResidualBlock(width) for _ in range(blocks)], last])
        self.head = Sequential(Dropout(dropout), Linear(hidden, num_classes))
        self.stage_features = [(width, 1)] * (blocks + 1) + [(hidden, -1)]

    def check_input(self, x) -> None:
        ph, pw = self.pool
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] < ph or x.shape[3] < pw:
            raise ValueError(f"{type(self).__name__}: expected log-mel input of shape "
                             f"(N, {self.in_channels}, n_mels >= {ph}, frames >= {pw}), got {tuple(x.shape)}")


class FeedbackAudioResNet(ContextualFeedback):
    """The AudioResNet without dropout inside contextual feedback loops (T = 2 by default)."""

    def __init__(self, num_classes: int = 12, in_channels: int = 1, width: int = 64, blocks: int = 3,
                 pool=(4, 3), hidden: int = 128, **feedback):
        network = AudioResNet(num_classes, in_channels, width, blocks, pool, hidden, dropout=0.0)
        super().__init__(network, **feedback)
