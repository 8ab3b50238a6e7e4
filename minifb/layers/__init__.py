"""minifb.layers: Module and Parameter, initialisers, and the layers built on them."""
from . import init
from .module import Module, ModuleList, Parameter, Sequential, functional_call
from .activation import GELU, Dropout, Flatten, Identity, ReLU
from .linear import MLP, Embedding, Linear, linear
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .attention import MultiHeadSelfAttention
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from .feedback import ContextAdapter, ContextualFeedback, StagedNetwork
from .cnn import CNN, FeedbackCNN
from .audio_cnn import AudioCNN, FeedbackAudioCNN
from .audio_resnet import AudioResNet, FeedbackAudioResNet, ResidualBlock
from .fft_mixer import FFTMixer, WindowedFFTMixer
from .fnet_mixer import FNetMixer
from .wavelet_mixer import HybridMixer, WaveletMixer
from .vit import EncoderBlock, FeedbackViT, ViT
from .sequence_classifier import LRA_CONFIGURATIONS, SequenceClassifier
