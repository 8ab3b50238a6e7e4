"""The Long Range Arena sequence classifier (Tay et al., 2021): integer tokens in, class logits out.

    x = Embedding(tokens) [CLS prepended] + positions,  Dropout         (B, N [+ 1], D)
    depth x EncoderBlock (pre-norm):  x + Dropout(Mix(LN(x))),  x + MLP(LN(x))
    h = pool(LN(x)):  the CLS token, or the mean over all N tokens (padding included, as in LRA)
    logits = Linear(ReLU(Linear(h, mlp_dim)), num_classes)

The mixer is any of minifb's (``minifb.layers.vit.MIXERS``): 'attention' (the Transformer
baseline), 'fnet', 'fft' (FFTNet), 'fft-windowed', ... Positions are learned (N(0, 0.02)) or the
fixed sinusoids of Vaswani et al. (2017). No padding mask: every mixer sees the padding tokens
(id 0) as tokens, so the mixers are compared on the same input (LRA's attention masks padding;
FFT mixing has no such notion).

``LRA_CONFIGURATIONS`` are the published per-task settings of the LRA code's Transformer
configurations (google-research/long-range-arena, lra_benchmarks/*/configs/*: base config plus
transformer_base), used for every mixer; each can be overridden, e.g. for a reduced run.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.shape import concatenate, expand
from ..autograd.tensor import Tensor
from .activation import Dropout, ReLU
from .feedback import RefiningClassifier
from .linear import Embedding, Linear
from . import init
from .module import ModuleList, Parameter, Sequential
from .normalization import LayerNorm
from .vit import EncoderBlock, make_mixer

# Per task: the sequence (vocabulary of the tokeniser, tokens, classes) and LRA's Transformer.
# listops: base_listops_config (no dropout set there: the model's default 0.1);
# image: base_cifar10_config + transformer_base; pathfinder: base_pathfinder32_config + transformer_base;
# text: base_tc_config (byte level, 1,000 bytes there; the paper's table says 4K).
LRA_CONFIGURATIONS = {
    "listops": dict(vocab_size=16, max_length=2000, num_classes=10, dim=512, depth=4, heads=8, qkv_dim=512,
                    mlp_dim=1024, dropout=0.1, attention_dropout=0.1, pooling="cls", positions="learned"),
    "image": dict(vocab_size=256, max_length=1024, num_classes=10, dim=128, depth=1, heads=8, qkv_dim=64,
                  mlp_dim=128, dropout=0.3, attention_dropout=0.2, pooling="cls", positions="learned"),
    "pathfinder": dict(vocab_size=256, max_length=1024, num_classes=2, dim=32, depth=4, heads=4, qkv_dim=16,
                       mlp_dim=32, dropout=0.2, attention_dropout=0.1, pooling="mean",
                       positions="sinusoidal"),
    "text": dict(vocab_size=257, max_length=1000, num_classes=2, dim=256, depth=4, heads=4, qkv_dim=256,
                 mlp_dim=1024, dropout=0.1, attention_dropout=0.1, pooling="cls", positions="learned"),
}
POOLINGS = ("cls", "mean")
POSITIONS = ("learned", "sinusoidal")


def sinusoidal_positions(length: int, dim: int) -> np.ndarray:
    """(1, length, D): P[t, 2i] = sin(t / 10000^(2i/D)), P[t, 2i+1] = cos(t / 10000^(2i/D))
    (Vaswani et al., 2017)."""
    t = np.arange(length)[:, None]
    rates = np.exp(-math.log(10000.0) * np.arange(0, dim, 2) / dim)[None, :]
    table = np.zeros((length, dim))
    table[:, 0::2] = np.sin(t * rates)
    table[:, 1::2] = np.cos(t * rates)[:, :dim // 2]
    return table[None].astype(np.float32)


class SequenceClassifier(RefiningClassifier):
    """LRA's encoder classifier for token ids (B, N) with the token mixer ``mixer``; every setting
    left None takes the value of ``LRA_CONFIGURATIONS[task]``."""

    input_dtype = np.int64  # what count_flops feeds it

    def __init__(self, task: str = "listops", mixer: str = "attention", vocab_size=None, max_length=None,
                 num_classes=None, dim=None, depth=None, heads=None, qkv_dim=None, mlp_dim=None, dropout=None,
                 attention_dropout=None, pooling=None, positions=None, window=None):
        super().__init__()
        if task not in LRA_CONFIGURATIONS:
            raise ValueError(f"SequenceClassifier: unknown task {task!r}; "
                             f"expected one of {tuple(LRA_CONFIGURATIONS)}")
        if qkv_dim is not None and mixer != "attention":
            raise ValueError(f"SequenceClassifier: qkv_dim={qkv_dim} applies to the 'attention' mixer only, "
                             f"not {mixer!r}")
        given = dict(vocab_size=vocab_size, max_length=max_length, num_classes=num_classes, dim=dim,
                     depth=depth, heads=heads, qkv_dim=qkv_dim, mlp_dim=mlp_dim, dropout=dropout,
                     attention_dropout=attention_dropout, pooling=pooling, positions=positions)
        c = {k: LRA_CONFIGURATIONS[task][k] if v is None else v for k, v in given.items()}
        if c["pooling"] not in POOLINGS or c["positions"] not in POSITIONS:
            raise ValueError(f"SequenceClassifier: pooling must be one of {POOLINGS} and positions one of "
                             f"{POSITIONS}, got {c['pooling']!r} and {c['positions']!r}")
        if c["dim"] % c["heads"]:
            raise ValueError(f"SequenceClassifier: dim {c['dim']} must be a multiple of heads {c['heads']}")
        self.config = dict(task=task, mixer=mixer, **c)
        self.task, self.mixer, self.pooling = task, mixer, c["pooling"]
        self.vocab_size, self.max_length = c["vocab_size"], c["max_length"]
        self.num_classes = c["num_classes"]
        dim = c["dim"]
        num_tokens = c["max_length"] + (c["pooling"] == "cls")
        self.embedding = Embedding(c["vocab_size"], dim)
        self.cls_token = Parameter(np.zeros((1, 1, dim), np.float32)) if c["pooling"] == "cls" else None
        if c["positions"] == "learned":
            self.pos_embedding = Parameter(init.normal((1, num_tokens, dim), std=0.02))
        else:
            self.pos_embedding = None
            self.register_buffer("sinusoids", sinusoidal_positions(num_tokens, dim))
        self.drop = Dropout(c["dropout"])
        self.blocks = ModuleList([
            EncoderBlock(dim, make_mixer(mixer, dim, num_tokens, c["heads"], c["attention_dropout"], window,
                                         qkv_dim=c["qkv_dim"] if mixer == "attention" else None),
                         dropout=c["dropout"], hidden=c["mlp_dim"])
            for _ in range(c["depth"])])
        self.norm = LayerNorm(dim)
        self.head = Sequential(Linear(dim, c["mlp_dim"]), ReLU(), Linear(c["mlp_dim"], c["num_classes"]))

    def forward(self, tokens):
        data = tokens.data if isinstance(tokens, Tensor) else tokens   # a raw array's .data is its buffer
        if data.ndim != 2 or data.shape[1] != self.max_length:
            raise ValueError(f"SequenceClassifier: expected token ids of shape (B, {self.max_length}), "
                             f"got {tuple(data.shape)}")
        x = self.embedding(data)
        if self.cls_token is not None:
            x = concatenate([expand(self.cls_token, (x.shape[0], 1, x.shape[2])), x], axis=1)
        x = self.drop(x + (self.pos_embedding if self.pos_embedding is not None else self.sinusoids))
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        logits = self.head(x[:, 0] if self.pooling == "cls" else x.mean(axis=1))
        self.step_logits = [logits]  # one prediction: no refinement steps
        return logits

    def extra_repr(self):
        return f"task={self.task!r}, mixer={self.mixer!r}, pooling={self.pooling!r}"
