"""Data: CIFAR-10 and Speech Commands from their official formats, the audio frontend,
augmentation on the device, the batch loader, and small shipped samples."""
from .audio import dct_matrix, log_mel_spectrogram, mel_filterbank, mfcc, pcm16_to_float
from .augment import (cifar10_eval_transform, cifar10_train_transform, mix_background_noise, normalize,
                      random_crop_flip, random_time_shift, spec_augment, speech_commands_transform,
                      stack_noise)
from .cifar10 import load_cifar10
from .download import DownloadError
from .loader import DataLoader
from .samples import load_cifar10_sample, load_speech_commands_sample
from .speech_commands import (LABELS_12, load_background_noise, load_speech_commands,
                              load_speech_commands_test_set, load_speech_commands_test_set_split)
