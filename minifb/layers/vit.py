"""The Vision Transformer (Dosovitskiy et al., 2021) with a choice of token mixer, and its feedback form.

    tokens = [CLS; Linear(patches)] + positional embedding,  Dropout        (B, N + 1, D)
    depth x EncoderBlock (pre-norm):  x + Dropout(Mix(LN(x))),  x + MLP(LN(x))
    logits = Linear(LN(x)[:, 0])                                           (the CLS token)

``mixer_norm='post'`` normalises the mixer's branch after its own residual instead,
x + LN(x + Dropout(Mix(x))) (the MLP branch stays pre-norm): the block of the public FFTNet code
(jacobfa/fft, whose spectral module returns LN(x + Dropout(Mix(x))) and whose block adds x).

Mixers, all (B, N, D) -> (B, N, D): 'attention' (softmax self-attention, the baseline), 'fft'
(FFTNet's global adaptive spectral filter), 'fft-windowed' (plus a local windowed branch),
'wavelet' (context-scaled Haar sub-bands), 'hybrid' (FFT and wavelet, gated). The defaults are
the CIFAR-10 configuration of docs/design.md: 32x32 images, patch 4 (64 patches + CLS = 65 tokens),
D = 192, depth 6, 6 heads, MLP ratio 3, dropout 0.1. The CLS token and the positional embedding
are drawn from a normal of std 0.02 truncated to +-2 std.
"""
from __future__ import annotations

from .. import checks
from ..autograd.shape import concatenate, expand
from .activation import Dropout
from .attention import MultiHeadSelfAttention
from .feedback import ContextualFeedback, StagedNetwork
from .fft_mixer import FFTMixer, WindowedFFTMixer
from .fnet_mixer import FNetMixer
from .linear import MLP, Linear
from . import init
from .module import Module, ModuleList, Parameter
from .normalization import LayerNorm
from .wavelet_mixer import HybridMixer, WaveletMixer

MIXERS = ("attention", "fft", "fft-windowed", "wavelet", "hybrid", "fnet")


def make_mixer(kind: str, dim: int, num_tokens: int, heads: int, dropout: float = 0.0, window=None,
               levels=None, qkv_dim=None) -> Module:
    """A token mixer by name (see MIXERS); ``window`` only for 'fft-windowed', ``levels`` only for
    'wavelet' and 'hybrid' (None: their defaults, 16 and 3), ``qkv_dim`` only for 'attention'
    (None: ``dim``). 'fnet' is parameter-free and uses neither heads nor dropout."""
    if kind not in MIXERS:
        raise ValueError(f"make_mixer: unknown mixer {kind!r}; expected one of {MIXERS}")
    if window is not None and kind != "fft-windowed":
        raise ValueError(f"make_mixer: window={window} applies to the 'fft-windowed' mixer only, not "
                         f"{kind!r}")
    if levels is not None and kind not in ("wavelet", "hybrid"):
        raise ValueError(f"make_mixer: levels={levels} applies to the 'wavelet' and 'hybrid' mixers only, "
                         f"not {kind!r}")
    if qkv_dim is not None and kind != "attention":
        raise ValueError(f"make_mixer: qkv_dim={qkv_dim} applies to the 'attention' mixer only, not {kind!r}")
    if kind == "attention":
        return MultiHeadSelfAttention(dim, heads, dropout, qkv_dim=qkv_dim)
    if kind == "fnet":
        return FNetMixer(dim, num_tokens)
    if kind == "fft":
        return FFTMixer(dim, num_tokens, heads)
    if kind == "fft-windowed":
        return WindowedFFTMixer(dim, num_tokens, heads, 16 if window is None else window)
    mixer_class = WaveletMixer if kind == "wavelet" else HybridMixer
    return mixer_class(dim, num_tokens, heads, 3 if levels is None else levels)


MIXER_NORMS = ("pre", "post")


class EncoderBlock(Module):
    """Transformer block: x + Dropout(Mix(LN(x))) (``mixer_norm='pre'``) or x + LN(x + Dropout(Mix(x)))
    ('post'), then x + MLP(LN(x)), MLP = Linear(D, rD), GELU, Dropout, Linear(rD, D), Dropout
    (``hidden``, when given, in place of rD)."""

    def __init__(self, dim: int, mixer: Module, mlp_ratio: float = 3, dropout: float = 0.1,
                 hidden: int | None = None, mixer_norm: str = "pre"):
        checks.integer("EncoderBlock", "dim", dim, 1)
        if not isinstance(mixer, Module):
            raise TypeError(f"EncoderBlock: mixer must be a Module, got {type(mixer).__name__}")
        checks.number("EncoderBlock", "mlp_ratio", mlp_ratio, 0, low_open=True)
        checks.number("EncoderBlock", "dropout", dropout, 0, 1)
        if hidden is not None:
            checks.integer("EncoderBlock", "hidden", hidden, 1)
        elif int(dim * mlp_ratio) < 1:
            raise ValueError(f"EncoderBlock: mlp_ratio {mlp_ratio} gives an MLP of {int(dim * mlp_ratio)} "
                             f"units for dim {dim}")
        super().__init__()
        if mixer_norm not in MIXER_NORMS:
            raise ValueError(f"EncoderBlock: mixer_norm must be one of {MIXER_NORMS}, got {mixer_norm!r}")
        self.mixer_norm = mixer_norm
        self.norm1 = LayerNorm(dim)
        self.mixer = mixer
        self.drop = Dropout(dropout)
        self.norm2 = LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio) if hidden is None else hidden, dropout)

    def forward(self, x):
        if self.mixer_norm == "pre":
            x = x + self.drop(self.mixer(self.norm1(x)))
        else:
            x = x + self.norm1(x + self.drop(self.mixer(x)))
        return x + self.mlp(self.norm2(x))

    def extra_repr(self):
        return f"mixer_norm={self.mixer_norm!r}"


class PatchEmbedding(Module):
    """Images (B, C, H, W) -> tokens (B, 1 + (H/p)(W/p), D): the patches, each flattened in (c, i, j)
    order and mapped by one Linear (the same as a conv with kernel and stride p), after a learned
    CLS token; plus a learned positional embedding, then dropout."""

    def __init__(self, image_size: int, patch: int, in_channels: int, dim: int, dropout: float):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"PatchEmbedding: image_size {image_size} is not a multiple of patch {patch}")
        self.image_size, self.patch, self.in_channels = image_size, patch, in_channels
        self.num_patches = (image_size // patch) ** 2
        self.proj = Linear(in_channels * patch * patch, dim)
        self.cls_token = Parameter(init.trunc_normal((1, 1, dim), std=0.02, a=-0.04, b=0.04))
        self.pos_embedding = Parameter(init.trunc_normal((1, self.num_patches + 1, dim), std=0.02,
                                                         a=-0.04, b=0.04))
        self.drop = Dropout(dropout)

    def forward(self, x):
        b, c = x.shape[:2]
        p, g = self.patch, self.image_size // self.patch
        patches = x.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)
        tokens = self.proj(patches)
        cls = expand(self.cls_token, (b, 1, tokens.shape[2]))
        return self.drop(concatenate([cls, tokens], axis=1) + self.pos_embedding)


class ClassifierHead(Module):
    """logits = Linear(LN(x)[:, 0]): the class token after a final LayerNorm."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.linear = Linear(dim, num_classes)

    def forward(self, x):
        return self.linear(self.norm(x[:, 0]))


class ViT(StagedNetwork):
    """Vision Transformer for NCHW images with the token mixer ``mixer`` (see MIXERS)."""

    def __init__(self, image_size: int = 32, patch: int = 4, dim: int = 192, depth: int = 6, heads: int = 6,
                 mlp_ratio: float = 3, dropout: float = 0.1, num_classes: int = 10, mixer: str = "attention",
                 in_channels: int = 3, window=None, levels=None, mixer_norm: str = "pre"):
        for label, value in (("image_size", image_size), ("patch", patch), ("dim", dim), ("depth", depth),
                             ("heads", heads), ("num_classes", num_classes), ("in_channels", in_channels)):
            checks.integer("ViT", label, value, 1)
        checks.number("ViT", "mlp_ratio", mlp_ratio, 0, low_open=True)
        checks.number("ViT", "dropout", dropout, 0, 1)
        super().__init__()
        if dim % heads:
            raise ValueError(f"ViT: dim {dim} must be a multiple of heads {heads}")
        self.image_size, self.in_channels, self.num_classes = image_size, in_channels, num_classes
        self.mixer, self.image_shape = mixer, (in_channels, image_size, image_size)
        self.stem = PatchEmbedding(image_size, patch, in_channels, dim, dropout)
        num_tokens = self.stem.num_patches + 1
        self.stages = ModuleList([
            EncoderBlock(dim, make_mixer(mixer, dim, num_tokens, heads, dropout, window, levels), mlp_ratio,
                         dropout, mixer_norm=mixer_norm)
            for _ in range(depth)])
        self.head = ClassifierHead(dim, num_classes)
        self.stage_features = [(dim, -1)] * depth

    def extra_repr(self):
        return f"mixer={self.mixer!r}"


class FeedbackViT(ContextualFeedback):
    """A ViT inside contextual feedback loops: the adapters act on the encoder blocks' outputs
    (Linear on [token; z] for every token). ``feedback``: ContextualFeedback's settings."""

    def __init__(self, image_size: int = 32, patch: int = 4, dim: int = 192, depth: int = 6, heads: int = 6,
                 mlp_ratio: float = 3, dropout: float = 0.1, num_classes: int = 10, mixer: str = "attention",
                 in_channels: int = 3, window=None, levels=None, mixer_norm: str = "pre", **feedback):
        network = ViT(image_size, patch, dim, depth, heads, mlp_ratio, dropout, num_classes, mixer,
                      in_channels, window, levels, mixer_norm)
        super().__init__(network, **feedback)
