"""PyTorch twins of minifb's layers and models, written for the cross-checks.

Each class uses the attribute names of its minifb counterpart, so that minifb's state dict
loads into it unchanged (minifb.testing.torch_state_dict). They follow DESIGN.md, not minifb's
code: a disagreement shows up as a failed comparison.
"""
import torch
from torch import nn


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


# ---- Haar wavelets (DESIGN.md): a_k = (x_2k + x_2k+1)/sqrt 2, d_k = (x_2k - x_2k+1)/sqrt 2 ----------

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
