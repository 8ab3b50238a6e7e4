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
