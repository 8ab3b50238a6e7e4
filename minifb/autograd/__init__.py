"""minifb.autograd: Tensor, the tape, every differentiable op, and gradcheck.

Find an op by its name: arithmetic.py (+ - * / pow), unary.py (exp log ... gelu abs),
select.py (maximum minimum where clip), reduction.py, shape.py, linalg.py (matmul),
loss.py (softmax, cross_entropy), complex.py.
"""
from .tensor import Tensor, tensor  # first: the op modules import Tensor from it
from .arithmetic import add, div, mul, neg, pow, sub
from .complex import angle, complex, conj, imag, real
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .gradcheck import GradcheckError, gradcheck
from .linalg import matmul
from .loss import cross_entropy, log_softmax, softmax
from .reduction import logsumexp, max, mean, min, sum, var
from .select import clip, maximum, minimum, where
from .shape import (astype, concatenate, expand, flatten, getitem, pad, permute, reshape, split, squeeze, stack,
                    swapaxes, to_device, transpose, unsqueeze)
from .tape import enable_grad, is_grad_enabled, no_grad, tape_length
from .unary import abs, exp, gelu, log, relu, sigmoid, sqrt, tanh
from .dropout import dropout
from .normalization import batch_norm, layer_norm
from .conv import conv2d
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .spectral import fft, fft2, fftshift, ifft, ifft2, ifftshift, irfft, irfft2, rfft, rfft2
from .wavelet import haar_dwt, haar_dwt2, haar_idwt, haar_idwt2, haar_wavedec, haar_wavedec2, haar_waverec, haar_waverec2
from .complex_activation import mod_gelu, mod_relu
