"""PyTorch stand-ins for the two public implementations that docs/validate.md checks against minifb.

Written here from what those files compute and how they name their parameters (their code is not
copied): the same constructor arguments, the same module and parameter names, the same forward
pass in evaluation mode. The guide's code runs against these in the tests, so that it is tested
without a network connection; with the public code checked out it runs against the real thing.

- ``MultiHeadSpectralAttention`` and ``TransformerEncoderBlock``: cifar/fftnet_modules.py of
  jacobfa/fft at commit b3cc304. The spectral module returns LN(x + Dropout(Mix(x))) and the block
  adds x: x + LN(x + Dropout(Mix(x))), then x + MLP(LN(x)).
- ``CBL_CNN``: cbl_model.py of contextualbackpropagationloops/cbl. One raw learnable alpha for all
  stages; four adapters refine h1..h4, but the logits are recomputed from h4 alone.
"""
import torch
from torch import nn


class MultiHeadSpectralAttention(nn.Module):
    """Adaptive global spectral filter with modReLU, its residual and its LayerNorm (no windowing)."""

    def __init__(self, embed_dim, seq_len, num_heads=4, dropout=0.1, adaptive=True):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError("embed_dim must be a multiple of num_heads")
        self.num_heads, self.seq_len, self.adaptive = num_heads, seq_len, adaptive
        self.freq_bins = seq_len // 2 + 1
        self.base_filter = nn.Parameter(torch.ones(num_heads, self.freq_bins, 1))
        if adaptive:
            self.adaptive_mlp = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.GELU(),
                                              nn.Linear(embed_dim, num_heads * self.freq_bins))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(embed_dim)
        self.modrelu_bias = nn.Parameter(torch.full((num_heads, self.freq_bins, 1), -0.1))

    def forward(self, x):
        b, n, d = x.shape
        heads = x.reshape(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)   # (B, H, N, d)
        spectrum = torch.fft.rfft(heads, dim=2, norm="ortho")                         # (B, H, F, d)
        weight = self.base_filter
        if self.adaptive:
            modulation = torch.tanh(self.adaptive_mlp(x.mean(dim=1)))
            weight = weight + modulation.reshape(b, self.num_heads, self.freq_bins, 1)
        spectrum = spectrum * weight
        magnitude = spectrum.abs()
        spectrum = spectrum * (torch.relu(magnitude + self.modrelu_bias) / magnitude.clamp(min=1e-3))
        mixed = torch.fft.irfft(spectrum, n=self.seq_len, dim=2, norm="ortho").transpose(1, 2).reshape(b, n, d)
        return self.norm(x + self.dropout(mixed))


class TransformerEncoderBlock(nn.Module):
    """x + attention_module(x), then x + MLP(LN(x)); MLP = Linear, GELU, Dropout, Linear, Dropout.
    (Stochastic depth, ``drop_path``, only acts in training; not needed here.)"""

    def __init__(self, embed_dim, mlp_ratio=4.0, dropout=0.1, attention_module=None, drop_path=0.0):
        super().__init__()
        if attention_module is None or drop_path:
            raise ValueError("this stand-in needs an attention module and no drop path")
        self.attention = attention_module
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, embed_dim), nn.Dropout(dropout))
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        x = x + self.attention(x)
        return x + self.mlp(self.norm(x))


class CBL_CNN(nn.Module):  # noqa: N801 (the public class's name)
    """The CIFAR CNN with contextual loops: z = g(y), one scalar channel mean(z) for the conv
    adapters, [h4; z] for the last one, h <- alpha h + (1 - alpha) adapter(...), y = fc2(h4)."""

    def __init__(self, num_classes=10, T=2, alpha=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(128 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, num_classes)
        self.T, self.z_dim = T, 64
        self.alpha = nn.Parameter(torch.tensor([float(alpha)]))
        self.g = nn.Linear(num_classes, self.z_dim)
        for k, channels in enumerate((32, 64, 128), start=1):
            setattr(self, f"adapter_conv{k}", nn.Sequential(nn.Conv2d(channels + 1, channels, 1), nn.ReLU()))
        self.adapter_fc1 = nn.Sequential(nn.Linear(256 + self.z_dim, 256), nn.ReLU())

    def forward(self, x):
        h1 = torch.relu(self.conv1(x))
        h2 = self.pool(torch.relu(self.conv2(h1)))
        h3 = self.pool(torch.relu(self.conv3(h2)))
        h4 = torch.relu(self.fc1(h3.flatten(1)))
        y = self.fc2(h4)
        maps = [h1, h2, h3]
        for _ in range(self.T):
            z = self.g(y)
            channel = z.mean(dim=1, keepdim=True)[:, :, None, None]
            adapters = (self.adapter_conv1, self.adapter_conv2, self.adapter_conv3)
            maps = [self.alpha * h + (1 - self.alpha) * adapter(torch.cat([h, channel.expand(-1, -1, *h.shape[2:])], 1))
                    for h, adapter in zip(maps, adapters)]
            h4 = self.alpha * h4 + (1 - self.alpha) * self.adapter_fc1(torch.cat([h4, z], 1))
            y = self.fc2(h4)
        return y
