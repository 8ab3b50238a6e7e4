"""PyTorch twins of minifb's layers and models, written for the cross-checks.

Each class uses the attribute names of its minifb counterpart, so that minifb's state dict
loads into it unchanged (minifb.testing.torch_state_dict). They follow docs/design.md, not minifb's
code: a disagreement shows up as a failed comparison.
"""
import torch
from torch import nn

from minifb.testing import ATTENTION_TO_TORCH


class TorchMLP(nn.Module):
    """Linear(dim, hidden), GELU, Dropout, Linear(hidden, dim), Dropout."""

    def __init__(self, dim, hidden, dropout=0.0):
        super().__init__()
        self.fc1, self.act, self.drop1 = nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout)
        self.fc2, self.drop2 = nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class TorchSelfAttention(nn.MultiheadAttention):
    """torch.nn.MultiheadAttention used as self-attention on (B, N, D)."""

    def __init__(self, dim, heads, dropout=0.0):
        super().__init__(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x):
        return super().forward(x, x, x, need_weights=False)[0]


# ---- Haar wavelets (docs/design.md): a_k = (x_2k + x_2k+1)/sqrt 2, d_k = (x_2k - x_2k+1)/sqrt 2 ----------

def haar_dwt(x, dim=-1):
    """One orthonormal Haar level along ``dim``; an odd length gets one zero padded at the end."""
    x = x.movedim(dim, -1)
    if x.shape[-1] % 2:
        x = torch.nn.functional.pad(x, (0, 1))
    even, odd = x[..., 0::2], x[..., 1::2]
    return ((even + odd) / 2 ** 0.5).movedim(-1, dim), ((even - odd) / 2 ** 0.5).movedim(-1, dim)


def haar_idwt(approx, detail, dim=-1, length=None):
    """The inverse: samples 2k and 2k+1 are (a+d)/sqrt 2 and (a-d)/sqrt 2, cropped to ``length``."""
    a, d = approx.movedim(dim, -1), detail.movedim(dim, -1)
    x = torch.stack([(a + d) / 2 ** 0.5, (a - d) / 2 ** 0.5], dim=-1).flatten(-2)
    return x[..., :length].movedim(-1, dim)


def haar_wavedec(x, levels, dim=-1):
    """[a_J, d_J, ..., d_1]: the analysis repeated on the approximation."""
    details = []
    for _ in range(levels):
        x, d = haar_dwt(x, dim)
        details.append(d)
    return [x] + details[::-1]


def haar_waverec(coeffs, dim=-1, length=None):
    """The inverse of haar_wavedec; each level is cropped to the length of the next detail."""
    x = coeffs[0]
    for i, detail in enumerate(coeffs[1:], start=2):
        x = haar_idwt(x, detail, dim, coeffs[i].shape[dim] if i < len(coeffs) else length)
    return x


def haar_dwt2(x, dims=(-2, -1)):
    """(LL, LH, HL, HH): rows (along dims[1]) first, then columns; first letter = filter along dims[0]."""
    low, high = haar_dwt(x, dims[1])
    ll, hl = haar_dwt(low, dims[0])
    lh, hh = haar_dwt(high, dims[0])
    return ll, lh, hl, hh


def haar_wavedec2(x, levels, dims=(-2, -1)):
    """[LL_J, (LH_J, HL_J, HH_J), ..., (LH_1, HL_1, HH_1)]."""
    details = []
    for _ in range(levels):
        x, *bands = haar_dwt2(x, dims)
        details.append(tuple(bands))
    return [x] + details[::-1]


def haar_waverec2(coeffs, dims=(-2, -1), shape=(None, None)):
    """The inverse of haar_wavedec2; each level cropped to the size of the next detail bands."""
    x = coeffs[0]
    for i, (lh, hl, hh) in enumerate(coeffs[1:], start=2):
        target = tuple(coeffs[i][0].shape[d] for d in dims) if i < len(coeffs) else shape
        x = haar_idwt2(x, lh, hl, hh, dims, target)
    return x


def haar_idwt2(ll, lh, hl, hh, dims=(-2, -1), shape=(None, None)):
    low = haar_idwt(ll, hl, dims[0], shape[0])
    high = haar_idwt(lh, hh, dims[0], shape[0])
    return haar_idwt(low, high, dims[1], shape[1])


# ---- complex activations of FFTNet: a gain on the magnitude, the phase kept ------------------------

def mod_relu(z, b, eps=1e-3):
    """modReLU (Arjovsky et al., 2016): ReLU(|z| + b) z / max(|z|, eps)."""
    r = z.abs()
    return torch.relu(r + b) * z / r.clamp(min=eps)


def mod_gelu(z, eps=1e-3):
    """GELU(|z|) z / max(|z|, eps)."""
    r = z.abs()
    return torch.nn.functional.gelu(r) * z / r.clamp(min=eps)


# ---- the CNNs of the contextual feedback loops source (docs/design.md) ---------------------------------

def conv_stage(in_channels, out_channels, pool):
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class TorchCNN(nn.Module):
    """conv 3-32 ReLU; conv 32-64 ReLU maxpool; conv 64-128 ReLU maxpool; Linear 8192-256 ReLU;
    Dropout; Linear 256-10. ``audio``: a global average pool before the first Linear instead."""

    def __init__(self, num_classes=10, in_channels=3, image_size=32, widths=(32, 64, 128), hidden=256, dropout=0.5,
                 audio=False):
        super().__init__()
        w1, w2, w3 = widths
        last = ([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w3, hidden)] if audio else
                [nn.Flatten(), nn.Linear(w3 * (image_size // 4) ** 2, hidden)])
        self.stages = nn.ModuleList([conv_stage(in_channels, w1, False), conv_stage(w1, w2, True),
                                     conv_stage(w2, w3, True), nn.Sequential(*last, nn.ReLU())])
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        self.stage_channels = [w1, w2, w3, hidden]
        self.stem = None

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        logits = self.head(x)
        self.step_logits = [logits]
        return logits


class TorchResidualBlock(nn.Module):
    """relu(x + BN(conv3x3(relu(BN(conv3x3(x)))))), convolutions without bias."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class TorchAudioResNet(nn.Module):
    """conv3x3 (no bias), BN, ReLU, avgpool; residual blocks; global average pool, Linear, ReLU;
    Dropout; Linear to the classes."""

    def __init__(self, num_classes=12, in_channels=1, width=64, blocks=3, pool=(4, 3), hidden=128, dropout=0.1):
        super().__init__()
        first = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                              nn.ReLU(), nn.AvgPool2d(pool))
        last = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, hidden), nn.ReLU())
        self.stages = nn.ModuleList([first, *[TorchResidualBlock(width) for _ in range(blocks)], last])
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        self.stage_channels = [width] * (blocks + 1) + [hidden]
        self.stem = None

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        logits = self.head(x)
        self.step_logits = [logits]
        return logits


class TorchContextAdapter(nn.Module):
    """act(W [h; z] + b) with z broadcast over the positions of h: a 1x1 convolution on the
    concatenation for feature maps (channels on axis 1), a Linear on it for vectors and tokens."""

    def __init__(self, channels, context_dim, channel_axis, activation=torch.relu):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, channels + context_dim))
        self.bias = nn.Parameter(torch.empty(channels))
        self.channel_axis, self.activation = channel_axis, activation

    def forward(self, h, z):
        if self.channel_axis == 1:  # (N, C, H, W): z as constant K extra channels
            z_map = z[:, :, None, None].expand(-1, -1, *h.shape[2:])
            out = nn.functional.conv2d(torch.cat([h, z_map], 1), self.weight[:, :, None, None], self.bias)
        else:  # (N, C) or (N, T, C): z repeated over the tokens
            z_rows = z.reshape(z.shape[0], *([1] * (h.ndim - 2)), z.shape[1]).expand(*h.shape[:-1], -1)
            out = nn.functional.linear(torch.cat([h, z_rows], -1), self.weight, self.bias)
        return self.activation(out)


class TorchFeedback(nn.Module):
    """Contextual feedback loops (docs/design.md) around a network with ``stem``, ``stages``, ``head``:
    after the plain pass, T times: z = g(y); refine the chosen stages h_l <- a h_l + (1 - a) psi(h_l, z)
    (all-stages: each later stage recomputed from the refined one before its own refinement); y = head(h_L);
    T = steps_train in training mode, steps_eval in evaluation mode.
    alpha: a float, 'learnable' (a = sigmoid(a_l), a_l trained), 'raw' (a = a_l, trained, from 0) or
    'gated' (a = sigmoid(V [h; z] + c)).
    detach: 'context' feeds g a copy of y cut from the graph; 'steps' cuts the states and logits
    carried into every step. (alpha_init only sets initial values, which the tests copy over.)"""

    def __init__(self, network, stage_axes, num_classes, context_dim=64, mode="head-only", alpha="learnable",
                 steps_train=2, steps_eval=2, step_loss=False, alpha_init=0.5, detach="none"):
        super().__init__()
        self.network, self.mode, self.alpha, self.step_loss = network, mode, alpha, step_loss
        self.detach = detach
        self.steps_train, self.steps_eval = steps_train, steps_eval
        stages = len(network.stages)
        self.refined = list(range(stages)) if mode == "all-stages" else [stages - 1]
        features = [(network.stage_channels[l], stage_axes[l]) for l in self.refined]
        self.context = nn.Linear(num_classes, context_dim)
        self.adapters = nn.ModuleList([TorchContextAdapter(c, context_dim, a) for c, a in features])
        if alpha == "learnable":
            self.alpha_logits = nn.Parameter(torch.zeros(len(self.refined)))
        elif alpha == "raw":
            self.alphas = nn.Parameter(torch.zeros(len(self.refined)))
        elif alpha == "gated":
            self.gates = nn.ModuleList([TorchContextAdapter(c, context_dim, a, torch.sigmoid) for c, a in features])

    def blend(self, k, h, z):
        if self.alpha == "learnable":
            a = torch.sigmoid(self.alpha_logits[k])
        elif self.alpha == "raw":
            a = self.alphas[k]
        elif self.alpha == "gated":
            a = self.gates[k](h, z)
        else:
            a = self.alpha
        return a * h + (1 - a) * self.adapters[k](h, z)

    def forward(self, x):
        net = self.network
        h = net.stem(x) if net.stem is not None else x
        states = []
        for stage in net.stages:
            h = stage(h)
            states.append(h)
        logits = net.head(h)
        self.step_logits = [logits]
        for _ in range(self.steps_train if self.training else self.steps_eval):
            if self.detach == "steps":
                logits, states = logits.detach(), [h.detach() for h in states]
            z = self.context(logits.detach() if self.detach == "context" else logits)
            if self.mode == "head-only":
                states[-1] = self.blend(0, states[-1], z)
            else:
                states = [self.blend(0, states[0], z)]
                for k, stage in enumerate(list(net.stages)[1:], start=1):
                    states.append(self.blend(k, stage(states[-1]), z))
            logits = net.head(states[-1])
            self.step_logits.append(logits)
        return logits

    def loss(self, labels):
        """Cross-entropy of the final logits, or its mean over y_0..y_T with step_loss."""
        steps = self.step_logits if self.step_loss else self.step_logits[-1:]
        return sum(nn.functional.cross_entropy(y, labels) for y in steps) / len(steps)


# ---- FFTNet token mixers (docs/design.md, "FFTNet token mixing"), on x of shape (B, N, D) ---------------

def context_mlp(dim, out_features):
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out_features))


class TorchSpectralFilter(nn.Module):
    """Z = modReLU(X (W_base + tanh(MLP(c))), b) on a spectrum X of shape (..., H, F, d)."""

    def __init__(self, dim, heads, frequencies):
        super().__init__()
        self.heads, self.frequencies = heads, frequencies
        self.modulation = context_mlp(dim, heads * frequencies)
        self.w_base = nn.Parameter(torch.ones(heads, frequencies, 1))
        self.bias = nn.Parameter(torch.full((heads, frequencies, 1), -0.1))

    def forward(self, spectrum, context):
        m = torch.tanh(self.modulation(context)).reshape(*context.shape[:-1], self.heads, self.frequencies, 1)
        return mod_relu(spectrum * (self.w_base + m), self.bias)


def split_heads(x, heads):
    """(..., N, D) -> (..., H, N, d)."""
    return x.reshape(*x.shape[:-1], heads, x.shape[-1] // heads).transpose(-3, -2)


def merge_heads(x):
    """(..., H, N, d) -> (..., N, D)."""
    x = x.transpose(-3, -2)
    return x.reshape(*x.shape[:-2], -1)


class TorchFFTMixer(nn.Module):
    """Heads split, rFFT over tokens (ortho), filter from the mean token, modReLU, inverse rFFT (n = N)."""

    def __init__(self, dim, num_tokens, heads):
        super().__init__()
        self.heads = heads
        self.filter = TorchSpectralFilter(dim, heads, num_tokens // 2 + 1)

    def forward(self, x):
        spectrum = torch.fft.rfft(split_heads(x, self.heads), dim=-2, norm="ortho")    # (B, H, F, d)
        filtered = self.filter(spectrum, x.mean(1))
        return merge_heads(torch.fft.irfft(filtered, n=x.shape[1], dim=-2, norm="ortho"))


class TorchHeadGate(nn.Module):
    """alpha = sigmoid(MLP(c)) per head: alpha global + (1 - alpha) local."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.mlp = heads, context_mlp(dim, heads)

    def forward(self, global_out, local_out, context):
        alpha = torch.sigmoid(self.mlp(context))[:, :, None, None]                      # (B, H, 1, 1)
        fused = alpha * split_heads(global_out, self.heads) + (1 - alpha) * split_heads(local_out, self.heads)
        return merge_heads(fused)


class TorchWindowedFFTMixer(nn.Module):
    """Global FFTNet plus a local branch: Hann-windowed frames of w tokens every w/2 (w/2 zeros padded
    in front, enough behind for whole frames), a filter per frame read from the frame's mean token,
    inverse, window again, overlap-add divided by the summed squared window; gated per head."""

    def __init__(self, dim, num_tokens, heads, window=16):
        super().__init__()
        self.heads, self.window, self.hop = heads, window, window // 2
        self.global_mixer = TorchFFTMixer(dim, num_tokens, heads)
        self.local_filter = TorchSpectralFilter(dim, heads, window // 2 + 1)
        self.gate = TorchHeadGate(dim, heads)

    def local(self, x):
        b, n, d = x.shape
        w, hop = self.window, self.hop
        padded_length = -(-(n + 2 * hop) // hop) * hop
        padded = nn.functional.pad(x, (0, 0, hop, padded_length - n - hop))
        frames = padded.unfold(1, w, hop).transpose(-1, -2)                              # (B, frames, w, D)
        hann = torch.hann_window(w, periodic=True, dtype=x.dtype, device=x.device)[:, None]
        spectrum = torch.fft.rfft(split_heads(frames * hann, self.heads), dim=-2, norm="ortho")
        filtered = self.local_filter(spectrum, frames.mean(2))
        pieces = merge_heads(torch.fft.irfft(filtered, n=w, dim=-2, norm="ortho")) * hann
        summed = torch.zeros_like(padded)
        weight = torch.zeros(padded_length, 1, dtype=x.dtype, device=x.device)
        for f in range(frames.shape[1]):
            summed[:, f * hop:f * hop + w] += pieces[:, f]
            weight[f * hop:f * hop + w] += hann ** 2
        return summed[:, hop:hop + n] / weight[hop:hop + n]  # crop first: the padding has weight 0

    def forward(self, x):
        return self.gate(self.global_mixer(x), self.local(x), x.mean(1))


class TorchWaveletMixer(nn.Module):
    """J-level Haar DWT along tokens; coefficient set k of head h scaled by 1 + tanh(MLP(c))[h, k]; inverse."""

    def __init__(self, dim, num_tokens, heads, levels=3):
        super().__init__()
        self.heads, self.levels = heads, levels
        self.scales = context_mlp(dim, heads * (levels + 1))

    def forward(self, x):
        scale = 1 + torch.tanh(self.scales(x.mean(1))).reshape(x.shape[0], self.heads, self.levels + 1)
        coeffs = haar_wavedec(split_heads(x, self.heads), self.levels, dim=-2)           # each (B, H, n_k, d)
        scaled = [c * scale[:, :, k, None, None] for k, c in enumerate(coeffs)]
        return merge_heads(haar_waverec(scaled, dim=-2, length=x.shape[1]))


class TorchHybridMixer(nn.Module):
    def __init__(self, dim, num_tokens, heads, levels=3):
        super().__init__()
        self.global_mixer = TorchFFTMixer(dim, num_tokens, heads)
        self.wavelet_mixer = TorchWaveletMixer(dim, num_tokens, heads, levels)
        self.gate = TorchHeadGate(dim, heads)

    def forward(self, x):
        return self.gate(self.global_mixer(x), self.wavelet_mixer(x), x.mean(1))


# ---- the Vision Transformer ---------------------------------------------------------------------------

class TorchEncoderBlock(nn.Module):
    """Pre-norm: x + Dropout(Mix(LN(x))), or with mixer_norm 'post' x + LN(x + Dropout(Mix(x))); then x + MLP(LN(x))."""

    def __init__(self, dim, mixer, mlp_ratio, dropout, mixer_norm="pre"):
        super().__init__()
        self.norm1, self.mixer, self.drop = nn.LayerNorm(dim), mixer, nn.Dropout(dropout)
        self.norm2, self.mlp = nn.LayerNorm(dim), TorchMLP(dim, int(dim * mlp_ratio), dropout)
        self.post = mixer_norm == "post"

    def forward(self, x):
        x = x + self.norm1(x + self.drop(self.mixer(x))) if self.post else x + self.drop(self.mixer(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class TorchPatchEmbedding(nn.Module):
    """[CLS; patches] + positional embedding. The patch Linear (D, C p p) is applied as a
    convolution with kernel and stride p, its weight viewed as (D, C, p, p)."""

    def __init__(self, image_size, patch, in_channels, dim, dropout):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(in_channels * patch * patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, (image_size // patch) ** 2 + 1, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        kernel = self.proj.weight.reshape(-1, x.shape[1], self.patch, self.patch)
        tokens = nn.functional.conv2d(x, kernel, self.proj.bias, stride=self.patch).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return self.drop(torch.cat([cls, tokens], 1) + self.pos_embedding)


class TorchClassifierHead(nn.Module):
    def __init__(self, dim, num_classes):
        super().__init__()
        self.norm, self.linear = nn.LayerNorm(dim), nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.linear(self.norm(x[:, 0]))


class TorchFNetMixer(nn.Module):
    """FNet (Lee-Thorp et al., 2021): Re(FFT2(x)) over tokens and channels, orthonormal."""

    def forward(self, x):
        return torch.fft.fft2(x, dim=(1, 2), norm="ortho").real


def torch_mixer(kind, dim, num_tokens, heads, dropout, window=None, levels=None):
    if kind == "attention":
        return TorchSelfAttention(dim, heads, dropout)
    if kind == "fnet":
        return TorchFNetMixer()
    if kind == "fft":
        return TorchFFTMixer(dim, num_tokens, heads)
    if kind == "fft-windowed":
        return TorchWindowedFFTMixer(dim, num_tokens, heads, window or 16)
    return (TorchWaveletMixer if kind == "wavelet" else TorchHybridMixer)(dim, num_tokens, heads, levels or 3)


class TorchViT(nn.Module):
    def __init__(self, image_size=32, patch=4, dim=192, depth=6, heads=6, mlp_ratio=3, dropout=0.1, num_classes=10,
                 mixer="attention", in_channels=3, window=None, levels=None, mixer_norm="pre"):
        super().__init__()
        tokens = (image_size // patch) ** 2 + 1
        self.stem = TorchPatchEmbedding(image_size, patch, in_channels, dim, dropout)
        self.stages = nn.ModuleList([
            TorchEncoderBlock(dim, torch_mixer(mixer, dim, tokens, heads, dropout, window, levels), mlp_ratio, dropout,
                              mixer_norm)
            for _ in range(depth)])
        self.head = TorchClassifierHead(dim, num_classes)
        self.stage_channels = [dim] * depth

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        logits = self.head(x)
        self.step_logits = [logits]
        return logits


# ---- the Long Range Arena classifier (Tay et al., 2021) -----------------------------------------------

class TorchNarrowAttention(nn.Module):
    """Self-attention whose Q, K, V have width qkv_dim (LRA's configurations), written with
    scaled_dot_product_attention: qkv Linear(D, 3E), heads of E/H, proj Linear(E, D)."""

    def __init__(self, dim, heads, qkv_dim, dropout=0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * qkv_dim), nn.Linear(qkv_dim, dim)

    def forward(self, x):
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(merge_heads(out))


def sinusoids(length, dim):
    """P[t, 2i] = sin(t w_i), P[t, 2i+1] = cos(t w_i), w_i = 10000^(-2i/D) (Vaswani et al., 2017)."""
    t = torch.arange(length, dtype=torch.float64)[:, None]
    w = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.stack([torch.sin(t * w), torch.cos(t * w)], dim=-1).reshape(length, -1)[:, :dim]
    return table[None].float()


class TorchSequenceClassifier(nn.Module):
    """Embedding [+ CLS] + positions, pre-norm blocks, LayerNorm, CLS or mean pooling, Linear-ReLU-Linear."""

    def __init__(self, task="listops", mixer="attention", window=None, **given):
        super().__init__()
        from minifb.layers.sequence_classifier import LRA_CONFIGURATIONS  # the published sizes (data, not code)
        c = {**LRA_CONFIGURATIONS[task], **{k: v for k, v in given.items() if v is not None}}
        dim, self.pooling = c["dim"], c["pooling"]
        tokens = c["max_length"] + (self.pooling == "cls")
        self.embedding = nn.Embedding(c["vocab_size"], dim)
        if self.pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        if c["positions"] == "learned":
            self.pos_embedding = nn.Parameter(torch.zeros(1, tokens, dim))
        else:
            self.register_buffer("sinusoids", sinusoids(tokens, dim))
        self.drop = nn.Dropout(c["dropout"])
        mixers = [TorchNarrowAttention(dim, c["heads"], c["qkv_dim"], c["attention_dropout"]) if mixer == "attention"
                  else torch_mixer(mixer, dim, tokens, c["heads"], 0.0, window) for _ in range(c["depth"])]
        self.blocks = nn.ModuleList([TorchEncoderBlock(dim, m, c["mlp_dim"] / dim, c["dropout"]) for m in mixers])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Linear(dim, c["mlp_dim"]), nn.ReLU(), nn.Linear(c["mlp_dim"], c["num_classes"]))

    def forward(self, tokens):
        x = self.embedding(tokens)
        if self.pooling == "cls":
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = self.drop(x + (self.pos_embedding if hasattr(self, "pos_embedding") else self.sinusoids.to(x.dtype)))
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        logits = self.head(x[:, 0] if self.pooling == "cls" else x.mean(1))
        self.step_logits = [logits]
        return logits


# ---- the registry: a twin for every model of minifb.models ----------------------------------------

def feedback_cnn_twin(**defaults):
    """Builder of a FeedbackCNN or FeedbackAudioCNN twin: feedback settings, then the trunk's."""
    def build(context_dim=64, mode="head-only", alpha="learnable", steps_train=2, steps_eval=2, step_loss=False,
              alpha_init=0.5, detach="none", **network):
        cnn = TorchCNN(**{**defaults, **network}, dropout=0.0)
        return TorchFeedback(cnn, [1, 1, 1, -1], cnn.head[1].out_features, context_dim, mode, alpha, steps_train,
                             steps_eval, step_loss, alpha_init, detach)
    return build


def feedback_audio_resnet_twin(context_dim=64, mode="head-only", alpha="learnable", steps_train=2, steps_eval=2,
                               step_loss=False, alpha_init=0.5, detach="none", **network):
    resnet = TorchAudioResNet(**network, dropout=0.0)
    axes = [1] * (len(resnet.stages) - 1) + [-1]
    return TorchFeedback(resnet, axes, resnet.head[1].out_features, context_dim, mode, alpha, steps_train,
                         steps_eval, step_loss, alpha_init, detach)


# nn.MultiheadAttention inside the ViT blocks: scoped to "mixer." so that the patch embedding's
# "stem.proj" keeps its name
VIT_ATTENTION = tuple((f"mixer.{a}", f"mixer.{b}") for a, b in ATTENTION_TO_TORCH)


def vit_twin(mixer):
    return lambda **c: TorchViT(mixer=mixer, **c)


def feedback_vit_twin(context_dim=64, mode="head-only", alpha="learnable", steps_train=2, steps_eval=2,
                      step_loss=False, alpha_init=0.5, detach="none", **network):
    vit = TorchViT(**network)
    return TorchFeedback(vit, [-1] * len(vit.stages), network.get("num_classes", 10), context_dim, mode, alpha,
                         steps_train, steps_eval, step_loss, alpha_init, detach)


# model name -> (builder of the PyTorch twin from create()'s settings, renames minifb -> PyTorch)
TWINS = {
    "vit": (vit_twin("attention"), VIT_ATTENTION),
    "fftnet-vit": (vit_twin("fft"), ()),
    "fftnet-vit-windowed": (vit_twin("fft-windowed"), ()),
    "wavelet-vit": (vit_twin("wavelet"), ()),
    "hybrid-vit": (vit_twin("hybrid"), ()),
    "feedback-vit": (feedback_vit_twin, VIT_ATTENTION),
    "cnn": (lambda **c: TorchCNN(**c), ()),
    "feedback-cnn": (feedback_cnn_twin(), ()),
    "audio-cnn": (lambda **c: TorchCNN(**{"num_classes": 12, "in_channels": 1, **c}, audio=True), ()),
    "feedback-audio-cnn": (feedback_cnn_twin(num_classes=12, in_channels=1, audio=True), ()),
    "lra-transformer": (lambda **c: TorchSequenceClassifier(mixer="attention", **c), ()),
    "lra-fnet": (lambda **c: TorchSequenceClassifier(mixer="fnet", **c), ()),
    "lra-fftnet": (lambda **c: TorchSequenceClassifier(mixer="fft", **c), ()),
    "lra-fftnet-windowed": (lambda **c: TorchSequenceClassifier(mixer="fft-windowed", **c), ()),
    "audio-resnet": (lambda **c: TorchAudioResNet(**c), ()),
    "feedback-audio-resnet": (feedback_audio_resnet_twin, ()),
}


def twin(name, **settings):
    """(the PyTorch twin of minifb.models.create(name, **settings), the renames of its state dict)."""
    build, renames = TWINS[name]
    return build(**settings), renames
