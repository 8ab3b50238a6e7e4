"""minifb.autograd: Tensor, the tape, every differentiable op, and gradcheck.

Find an op by its name (each file holds one family, forward and VJP side by side):

    arithmetic.py          add sub mul div neg pow (+ - * / **)
    unary.py               exp log sqrt tanh sigmoid relu gelu abs
    trigonometric.py       sin cos tan arcsin arccos arctan arctan2
    hyperbolic.py          sinh cosh arcsinh arccosh arctanh
    logarithm.py           log1p expm1 log2 log10 logaddexp
    powers.py              square reciprocal
    rounding.py            sign floor ceil round (zero gradient), remainder (%)
    select.py              maximum minimum where clip
    reduction.py           sum mean var std max min logsumexp
    product.py             prod
    cumulative.py          cumsum cumprod diff
    shape.py               reshape transpose permute swapaxes expand squeeze unsqueeze flatten getitem
                           concatenate stack split pad to_device astype
    arrange.py             flip roll repeat tile moveaxis ravel
    triangle.py            tril triu diagonal trace
    linalg.py              matmul linear
    contraction.py         outer tensordot einsum
    loss.py                softmax log_softmax cross_entropy
    complex.py             complex real imag conj angle
    complex_activation.py  mod_relu mod_gelu (filtered_mod_relu: FFTNet's filter and modReLU in one)
    dropout.py             dropout
    normalization.py       batch_norm layer_norm
    conv.py, pool.py       conv2d; max_pool2d avg_pool2d adaptive_avg_pool2d
    spectral.py            fft ifft rfft irfft, fft2 ... irfft2, fftn ifftn rfftn irfftn, fftshift ifftshift
    wavelet.py             haar_dwt haar_idwt haar_wavedec haar_waverec and their 2-D forms
    attention.py           self_attention (attention_kernel.py: its fused CUDA form)
    tokens.py              gate_heads frame_tokens overlap_add_tokens

function.py is what every op shares (``primitive``), tape.py the graph and backward, tensor.py
the Tensor, dlpack.py arrays shared with other libraries, gradcheck.py the finite-difference check.
"""
from .tensor import Tensor, tensor  # first: the op modules import Tensor from it
from .dlpack import from_dlpack
from .arithmetic import add, div, mul, neg, pow, sub
from .complex import angle, complex, conj, imag, real
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .gradcheck import GradcheckError, gradcheck
from .linalg import linear, matmul
from .loss import cross_entropy, log_softmax, softmax
from .reduction import logsumexp, max, mean, min, std, sum, var
from .select import clip, maximum, minimum, where
from .shape import (astype, concatenate, expand, flatten, getitem, pad, permute, reshape, split, squeeze,
                    stack, swapaxes, to_device, transpose, unsqueeze)
from .tape import enable_grad, is_grad_enabled, no_grad, tape_length
from .unary import abs, exp, gelu, log, relu, sigmoid, sqrt, tanh
from .dropout import dropout
from .normalization import batch_norm, layer_norm
from .conv import conv2d
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .spectral import (fft, fft2, fftn, fftshift, ifft, ifft2, ifftn, ifftshift, irfft, irfft2, irfftn, rfft,
                       rfft2, rfftn)
from .trigonometric import arccos, arcsin, arctan, arctan2, cos, sin, tan
from .hyperbolic import arccosh, arcsinh, arctanh, cosh, sinh
from .logarithm import expm1, log1p, log2, log10, logaddexp
from .powers import reciprocal, square
from .rounding import ceil, floor, remainder, round, sign
from .product import prod
from .cumulative import cumprod, cumsum, diff
from .arrange import flip, moveaxis, ravel, repeat, roll, tile
from .triangle import diagonal, trace, tril, triu
from .contraction import einsum, outer, tensordot
from .wavelet import (haar_dwt, haar_dwt2, haar_idwt, haar_idwt2, haar_wavedec, haar_wavedec2, haar_waverec,
                      haar_waverec2)
from .complex_activation import mod_gelu, mod_relu
from .attention import self_attention
from .tokens import frame_tokens, gate_heads, overlap_add_tokens
