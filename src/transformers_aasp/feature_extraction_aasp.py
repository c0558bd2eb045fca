"""Log-mel feature extractor for AaSP (16 kHz mono, 80 mel bins, 10 ms hop).

This file is also shipped as Hub remote code: top-level imports are limited to torch, numpy and transformers,
and torchaudio is only imported when `is_torchaudio_available()` says so.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import PaddingStrategy, logging
from transformers.utils.import_utils import is_torchaudio_available


logger = logging.get_logger(__name__)

INT16_SCALE = 32768.0
MAX_CHANNELS = 8
CPU_CHUNK_FRAMES = 2048  # frames per FFT + mel product on the CPU: ~3 MB of windowed frames, cache-sized


@functools.lru_cache(maxsize=8)
def mel_filterbank(
    num_frequency_bins: int, num_mel_bins: int, f_min: float, f_max: float, sampling_rate: int, use_torchaudio: bool
) -> torch.Tensor:
    """HTK-scale triangular mel filterbank without area normalisation: `(num_frequency_bins, num_mel_bins)` float32.

    Cached per parameter set, so it is never stored on (nor serialised with) the feature extractor.
    """
    if use_torchaudio and is_torchaudio_available():  # this exact guard keeps torchaudio optional for remote code
        import torchaudio

        filters = torchaudio.functional.melscale_fbanks(
            num_frequency_bins, f_min, f_max, num_mel_bins, sampling_rate, norm=None, mel_scale="htk"
        )
        return filters.to(torch.float32)

    from transformers.audio_utils import mel_filter_bank

    filters = mel_filter_bank(
        num_frequency_bins, num_mel_bins, f_min, f_max, sampling_rate, norm=None, mel_scale="htk"
    )
    return torch.from_numpy(filters).to(torch.float32)


@functools.lru_cache(maxsize=8)
def hann_window(length: int) -> torch.Tensor:
    """Periodic Hann window of `length` samples (the `torch.stft` / torchaudio convention), shape `(length,)`."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32)


@functools.lru_cache(maxsize=8)
def interleaved_mel_filters(filters: torch.Tensor) -> torch.Tensor:
    """`(F, M)` filterbank -> `(2 F, M)` with every row repeated, so that `view_as_real(X) ** 2 @ W2` sums the real and
    imaginary squares inside the matrix product: `|X|^2 @ W` without a separate pass over the spectrum."""
    return filters.repeat_interleave(2, dim=0).contiguous()


def reflect_padded_batch(clips: Sequence[torch.Tensor], pad: int) -> torch.Tensor:
    """Mono clips (each longer than `pad`) -> `(batch, max_samples + 2 * pad)` float32 on the clips' device: row `i`
    is `F.pad(clips[i], (pad, pad), mode="reflect")` then zeros, written in place (one copy of every sample)."""
    longest = max(len(clip) for clip in clips)
    padded = torch.empty(len(clips), longest + 2 * pad, dtype=torch.float32, device=clips[0].device)
    for row, clip in zip(padded, clips, strict=True):
        length = len(clip)
        row[:pad] = clip[1 : pad + 1].flip(0)
        row[pad : pad + length] = clip
        row[pad + length : 2 * pad + length] = clip[length - pad - 1 : length - 1].flip(0)
        row[2 * pad + length :] = 0.0
    return padded


def reject_non_finite_features(log_mel: torch.Tensor, clips: Sequence[torch.Tensor]) -> None:
    """Raise a ValueError naming the first clip whose `(batch, frames, num_mel_bins)` features are not finite: NaN or
    Inf samples, or a power spectrum overflowing float32. The output is checked instead of every input sample (a NaN
    sample reaches some frame even through a zero window weight, and there are 8x fewer values)."""
    suspects = (~torch.isfinite(log_mel.sum(dim=(1, 2)))).nonzero().flatten().tolist()
    if suspects:
        index, clip = suspects[0], clips[suspects[0]]
        if not torch.isfinite(clip).all():
            raise ValueError(f"Clip {index} contains NaN or Inf samples.")
        raise ValueError(
            f"Clip {index} has samples up to {float(clip.abs().max()):.3g} in magnitude: its power spectrum overflows "
            "float32. Floating point audio must lie in [-1, 1] (int16 PCM is scaled by 1/32768)."
        )


def as_real_number(value: Any) -> float | None:
    """`float(value)` for a real number (Python, numpy or 0-d tensor); `None` for anything else (bools, strings)."""
    if isinstance(value, (bool, str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_normalization(mean: Any, std: Any) -> None:
    """The one check of normalisation statistics, used by the constructor and by `set_normalization`."""
    mean_, std_ = as_real_number(mean), as_real_number(std)
    if mean_ is None or std_ is None or not (math.isfinite(mean_) and math.isfinite(std_) and std_ > 0):
        raise ValueError(f"Normalisation statistics must be finite with std > 0, got mean={mean!r}, std={std!r}.")


def is_positive_int(value: Any) -> bool:
    """True for an integer >= 1 (Python or numpy); bools and floats are refused."""
    return bool(not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1)


def check_positive_int(name: str, value: Any) -> int:
    """`value` as an int; a ValueError naming `name` unless it is an integer >= 1."""
    if not is_positive_int(value):
        raise ValueError(f"AaSPFeatureExtractor: {name} must be a positive integer, got {value!r}.")
    return int(value)


def check_finite_float(name: str, value: Any) -> float:
    """`value` as a float; a ValueError naming `name` unless it is a finite real number."""
    number = as_real_number(value)
    if number is None or not math.isfinite(number):
        raise ValueError(f"AaSPFeatureExtractor: {name} must be a finite number, got {value!r}.")
    return number


def check_pad_to_multiple_of(value: Any) -> int | None:
    """`None` or an integer >= 1 (both 1 and None: no rounding); anything else would drop or invent frames."""
    if value is not None and not is_positive_int(value):
        raise ValueError(
            f"pad_to_multiple_of must be None or an integer >= 1 (1 or None: no rounding), got {value!r}."
        )
    return None if value is None else int(value)


def reject_channels_last(shape: tuple[int, ...]) -> None:
    """A top-level 2-D array is a batch `(batch, samples)`; refuse `(samples, channels)` (<= 8 channels last), which
    would otherwise be read as `samples` clips of a few samples each."""
    num_rows, num_columns = shape
    if num_columns <= MAX_CHANNELS and num_rows > num_columns:
        raise ValueError(
            f"Got a 2-D array of shape {shape}: a 2-D array is a batch of mono clips (batch, samples), so this would "
            f"be {num_rows} clips of {num_columns} samples. It looks like ONE clip with {num_columns} channels last "
            f"(samples, channels), as soundfile returns it: pass it inside a list, feature_extractor([audio], ...), "
            "to downmix it, or pass audio.mean(axis=1)."
        )


def is_audio_decoder(obj: Any) -> bool:
    """True for torchcodec `AudioDecoder`s, including the subclass that `datasets` 5 returns for `Audio` columns."""
    return callable(getattr(obj, "get_all_samples", None))


class AaSPFeatureExtractor(SequenceFeatureExtractor):
    r"""Turns raw audio into normalised log-mel spectrograms for AaSP models.

    Per clip of `L` samples at 16 kHz: centred STFT (periodic Hann window of `n_fft` = 400 samples, hop 160, reflect
    padding at the clip's own ends) -> power spectrum -> 80 HTK mel bins between `f_min` = 50 Hz and `f_max` = 8000 Hz
    (no area normalisation) -> `log(mel + log_eps)` -> `(x - mean) / std`: `1 + L // hop_length` frames, 100 per
    second. `mean` and `std` are dataset statistics stored in `preprocessor_config.json`; compute them with
    `transformers_aasp.data.normalization.compute_normalization_stats`.

    Accepted inputs (`raw_audio`):
        - one clip: a 1-D `np.ndarray` / `torch.Tensor`, or a list of floats;
        - a batch of mono clips: a 2-D array / tensor `(batch, samples)`, or a list / tuple of clips. A top-level
          `(samples, channels)` array (at most 8 columns, more rows than columns) is refused;
        - inside a list, a 2-D item is **one multi-channel clip** (see `to_mono_waveform`), downmixed by averaging;
        - dicts `{"array": ..., "sampling_rate": ...}` and torchcodec `AudioDecoder`s (what `datasets` 5 returns for
          an `Audio` column), downmixed the same way.
        int16 PCM is scaled by 1/32768, other integer types are rejected, floating point is cast to float32. Audio is
        never resampled here: a clip at another rate raises a `ValueError`.

    Args:
        num_mel_bins (`int`, defaults to 80): mel bins (also `feature_size`).
        sampling_rate (`int`, defaults to 16000): expected input rate in Hz.
        n_fft (`int`, defaults to 400): FFT size and window length (`win_length`, if given, must equal it).
        hop_length (`int`, defaults to 160): frame shift in samples, at most `n_fft`.
        f_min / f_max (`float`, defaults to 50.0 / 8000.0): mel filterbank range in Hz, within [0, sampling_rate / 2].
        log_eps (`float`, defaults to float32 machine epsilon): added to the mel energies before the log.
        mean / std (`float`, defaults to 0.0 / 1.0): normalisation statistics of the log-mel values.
        pad_to_multiple_of (`int`, defaults to 16): frames are padded up to a multiple of this (the patch size);
            `None` or 1: no rounding.
        padding_value (`float`, defaults to 0.0): value of padded frames, after normalisation.
        return_attention_mask (`bool`, defaults to True).
    Every argument is checked when the extractor is built, so a crafted `preprocessor_config.json` is refused with
    an error naming the field.
    """

    model_input_names: ClassVar[list[str]] = ["input_values", "attention_mask"]

    def __init__(
        self,
        num_mel_bins: int = 80,
        sampling_rate: int = 16000,
        n_fft: int = 400,
        hop_length: int = 160,
        f_min: float = 50.0,
        f_max: float = 8000.0,
        log_eps: float = float(np.finfo(np.float32).eps),
        mean: float = 0.0,
        std: float = 1.0,
        pad_to_multiple_of: int | None = 16,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        feature_size = kwargs.pop("feature_size", num_mel_bins)
        win_length = kwargs.pop("win_length", n_fft)
        if kwargs.get("padding_side", "right") != "right":
            raise ValueError(
                f"AaSPFeatureExtractor only pads on the right, got padding_side={kwargs['padding_side']!r}."
            )
        num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
        sampling_rate = check_positive_int("sampling_rate", sampling_rate)
        n_fft = check_positive_int("n_fft", n_fft)
        hop_length = check_positive_int("hop_length", hop_length)
        if feature_size != num_mel_bins:
            raise ValueError(f"feature_size ({feature_size}) must equal num_mel_bins ({num_mel_bins}).")
        if win_length != n_fft:
            raise ValueError(f"win_length ({win_length!r}) must equal n_fft ({n_fft}): the window spans the FFT.")
        if n_fft < 2:
            raise ValueError(f"AaSPFeatureExtractor: n_fft must be at least 2 (reflect padding), got {n_fft}.")
        if hop_length > n_fft:
            raise ValueError(
                f"hop_length ({hop_length}) must not exceed n_fft ({n_fft}): samples between windows would be ignored."
            )
        if num_mel_bins > n_fft // 2 + 1:
            raise ValueError(
                f"num_mel_bins ({num_mel_bins}) must not exceed the n_fft // 2 + 1 = {n_fft // 2 + 1} frequency bins."
            )
        f_min, f_max = check_finite_float("f_min", f_min), check_finite_float("f_max", f_max)
        if not 0 <= f_min < f_max <= sampling_rate / 2:
            raise ValueError(f"Need 0 <= f_min < f_max <= sampling_rate / 2, got f_min={f_min}, f_max={f_max}.")
        if not check_finite_float("log_eps", log_eps) > 0:
            raise ValueError(f"AaSPFeatureExtractor: log_eps must be positive (it keeps log() finite), got {log_eps}.")
        check_normalization(mean, std)
        pad_to_multiple_of = check_pad_to_multiple_of(pad_to_multiple_of)
        padding_value = check_finite_float("padding_value", padding_value)
        super().__init__(
            feature_size=num_mel_bins,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.num_mel_bins, self.n_fft, self.hop_length = num_mel_bins, n_fft, hop_length
        self.f_min, self.f_max, self.log_eps = float(f_min), float(f_max), float(log_eps)
        self.mean, self.std, self.pad_to_multiple_of = float(mean), float(std), pad_to_multiple_of

    @property
    def frame_rate(self) -> float:
        """Frames per second (100.0 with the default 10 ms hop)."""
        return self.sampling_rate / self.hop_length

    @property
    def min_num_samples(self) -> int:
        """Shortest clip accepted: one full analysis window (400 samples = 25 ms)."""
        return self.n_fft

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of `num_samples` samples (centred STFT): `1 + num_samples // hop_length`."""
        return 1 + num_samples // self.hop_length

    def set_normalization(self, mean: float, std: float) -> None:
        """Store dataset statistics (see `normalization.compute_normalization_stats`)."""
        check_normalization(mean, std)
        self.mean, self.std = float(mean), float(std)

    def __call__(
        self,
        raw_audio: Any,
        sampling_rate: int | None = None,
        padding: bool | str | PaddingStrategy = "longest",
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        device: str | torch.device | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurise one clip or a batch of clips (`raw_audio`: see the class docstring) -> `BatchFeature` with
        `input_values` `(batch, frames_padded, num_mel_bins)` float32 and, unless disabled, `attention_mask`
        `(batch, frames_padded)` int32.

        Args:
            sampling_rate: rate of `raw_audio` in Hz; must equal `self.sampling_rate`. `None` logs a warning unless
                every clip carries its own rate (dicts, decoders).
            padding: `"longest"` / `True` (default), `"max_length"` (needs `max_length`), or `False` /
                `"do_not_pad"` (each clip keeps its own frame count).
            max_length: frame count for `padding="max_length"` and for `truncation` (the first frames are kept).
            pad_to_multiple_of, return_attention_mask: override the extractor's for this call (1: no rounding).
            return_tensors: `"pt"`, `"np"` or `None` (lists of per-clip numpy arrays).
            device: where to compute (e.g. `"cuda"`; with `return_tensors="pt"` the features stay there). Default:
                where the clips are (the CPU for numpy input; tensors on a GPU are featurised there).
        """
        if kwargs:
            logger.warning(f"AaSPFeatureExtractor ignores unexpected arguments: {sorted(kwargs)}")
        self._check_sampling_rate_argument(sampling_rate)
        strategy = self._padding_strategy(padding, max_length, truncation)
        pad_to_multiple_of = check_pad_to_multiple_of(pad_to_multiple_of)
        clips, rates = self._clips_from_input(raw_audio)
        if sampling_rate is None and any(rate is None for rate in rates):
            logger.warning_once(
                f"No sampling_rate was passed to AaSPFeatureExtractor; assuming {self.sampling_rate} Hz. Pass "
                "`sampling_rate` to catch silently wrong features from audio at another rate."
            )
        for index, (clip, rate) in enumerate(zip(clips, rates, strict=True)):
            self._validate_clip(clip, rate, index)

        if truncation and max_length is not None:  # (`_padding_strategy` refused truncation without max_length)
            clips = [clip[: self._samples_needed_for(max_length)] for clip in clips]
        num_frames = [self.num_frames(len(clip)) for clip in clips]
        if truncation and max_length is not None:
            num_frames = [min(frames, max_length) for frames in num_frames]
        target = self._padded_length(num_frames, strategy, max_length, pad_to_multiple_of)

        features = self.log_mel(clips, device=device).sub_(self.mean).div_(self.std)
        return self._assemble(features, num_frames, target, return_attention_mask, return_tensors)

    def log_mel(self, clips: Sequence[torch.Tensor], device: str | torch.device | None = None) -> torch.Tensor:
        """Un-normalised log-mel spectrograms of `batch` mono float32 clips `(samples_i,)`, each longer than
        `n_fft // 2`, computed for the whole batch at once: `(batch, 1 + max_i(samples_i) // hop_length, num_mel_bins)`
        float32, whose frames past `1 + samples_i // hop_length` belong to padding and hold arbitrary finite values.
        A ValueError names a clip holding NaN or Inf samples (or samples so large that the spectrum overflows).

        torchaudio's `MelSpectrogram(center=True, pad_mode="reflect", power=2, norm=None, mel_scale="htk")` then the
        log: clips reflect-padded by `n_fft // 2` at their own ends (`reflect_padded_batch`, built where the clips are,
        then moved to `device` once), framed as a strided view, windowed, `rfft`-ed and squared, the real and imaginary
        squares summed inside the product with the interleaved filterbank.
        """
        padded = reflect_padded_batch(clips, self.n_fft // 2)
        if device is not None:
            padded = padded.to(device)
        frames = padded.unfold(-1, self.n_fft, self.hop_length)  # (batch, frames, n_fft), a view
        window = hann_window(self.n_fft).to(padded.device)
        filters = interleaved_mel_filters(self._mel_filters()).to(padded.device)
        batch, num_frames = frames.shape[:2]
        mel = torch.empty(batch, num_frames, self.num_mel_bins, device=padded.device)
        # On the CPU, a few clips at a time keep the framed signal and its spectrum in cache and reuse their memory
        # (~30 % faster than one pass over 16 clips of 10 s); an accelerator takes the whole batch at once.
        step = max(1, CPU_CHUNK_FRAMES // num_frames) if padded.device.type == "cpu" else batch
        for first in range(0, batch, step):
            windowed = frames[first : first + step] * window  # the one copy of the framed signal
            spectrum = torch.view_as_real(torch.fft.rfft(windowed, dim=-1))  # (b, frames, n_fft // 2 + 1, 2)
            squares = spectrum.flatten(-2).square_()  # (b, frames, 2 * (n_fft // 2 + 1)): re^2, im^2, ...
            rows = squares.shape[0] * num_frames
            torch.mm(squares.view(rows, -1), filters, out=mel[first : first + step].view(rows, -1))
        log_mel = mel.add_(self.log_eps).log_()
        reject_non_finite_features(log_mel, clips)
        return log_mel

    def _mel_filters(self) -> torch.Tensor:
        """`(n_fft // 2 + 1, num_mel_bins)` filterbank, from torchaudio when it is installed."""
        bins, use_torchaudio = self.n_fft // 2 + 1, is_torchaudio_available()
        return mel_filterbank(bins, self.num_mel_bins, self.f_min, self.f_max, self.sampling_rate, use_torchaudio)

    # ---- input handling -------------------------------------------------------------------------------------
    def _check_sampling_rate_argument(self, sampling_rate: int | None) -> None:
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(
                f"AaSPFeatureExtractor expects audio sampled at {self.sampling_rate} Hz, but sampling_rate="
                f"{sampling_rate} Hz was passed. Resample first (datasets' Audio(sampling_rate={self.sampling_rate})"
                " or torchaudio.functional.resample); the audio-classification pipeline resamples for you."
            )

    def _clips_from_input(self, raw_audio: Any) -> tuple[list[torch.Tensor], list[int | None]]:
        """Split the input into mono float32 clips `(samples,)` and their own sampling rates (`None` if unknown)."""
        items, is_batch = self._split_batch(raw_audio)
        pairs = [self._mono_clip(item, i, is_batch or isinstance(item, Mapping)) for i, item in enumerate(items)]
        return [clip for clip, _ in pairs], [rate for _, rate in pairs]

    @staticmethod
    def _split_batch(raw_audio: Any) -> tuple[list[Any], bool]:
        if isinstance(raw_audio, (np.ndarray, torch.Tensor)):
            if raw_audio.ndim == 1:
                return [raw_audio], False
            if raw_audio.ndim == 2:
                reject_channels_last(tuple(raw_audio.shape))
                return list(raw_audio), True
            raise ValueError(
                f"Expected a 1-D array (one clip) or a 2-D array (a batch of mono clips), got a {raw_audio.ndim}-D "
                f"array of shape {tuple(raw_audio.shape)}. Pass a multi-channel clip inside a list to downmix it."
            )
        if isinstance(raw_audio, (list, tuple)):
            if len(raw_audio) == 0:
                raise ValueError("Got an empty list of clips.")
            if all(isinstance(sample, (int, float, np.number)) for sample in raw_audio):
                return [np.asarray(raw_audio)], False
            return list(raw_audio), True
        if isinstance(raw_audio, Mapping) or is_audio_decoder(raw_audio):
            return [raw_audio], False
        raise TypeError(
            f"Unsupported audio input of type {type(raw_audio).__name__}: expected a numpy array, a torch tensor, a "
            "list of them, a dict with 'array' and 'sampling_rate', or a torchcodec AudioDecoder."
        )

    def _mono_clip(self, item: Any, index: int, allow_multichannel: bool) -> tuple[torch.Tensor, int | None]:
        if is_audio_decoder(item):
            samples = item.get_all_samples()
            return to_mono_waveform(samples.data, index, channel_axis=0), int(samples.sample_rate)  # torchcodec
        if isinstance(item, Mapping):
            array = item.get("array", item.get("raw"))
            if array is None or "sampling_rate" not in item:
                raise ValueError(
                    f"Clip {index}: a dict input needs an 'array' (or 'raw') and a 'sampling_rate' key, got keys "
                    f"{sorted(item)}."
                )
            return to_mono_waveform(array, index, allow_multichannel=True), int(item["sampling_rate"])
        return to_mono_waveform(item, index, allow_multichannel, keep_device=True), None

    def _validate_clip(self, clip: torch.Tensor, rate: int | None, index: int) -> None:
        if rate is not None and rate != self.sampling_rate:
            raise ValueError(
                f"Clip {index} is sampled at {rate} Hz but AaSPFeatureExtractor expects {self.sampling_rate} Hz. "
                f"Resample it first (datasets' Audio(sampling_rate={self.sampling_rate}) or "
                "torchaudio.functional.resample)."
            )
        if clip.numel() == 0:
            raise ValueError(f"Clip {index} is empty.")
        if clip.numel() < self.min_num_samples:
            raise ValueError(
                f"Clip {index} has {clip.numel()} samples; at least {self.min_num_samples} "
                f"({1000 * self.min_num_samples / self.sampling_rate:g} ms at {self.sampling_rate} Hz) are needed."
            )

    # ---- padding --------------------------------------------------------------------------------------------
    @staticmethod
    def _padding_strategy(padding: bool | str | PaddingStrategy, max_length: int | None, truncation: bool):
        if padding is True:
            strategy = PaddingStrategy.LONGEST
        elif padding is False:
            strategy = PaddingStrategy.DO_NOT_PAD
        else:
            try:
                strategy = PaddingStrategy(padding)
            except ValueError:
                raise ValueError(
                    f"padding={padding!r} is not supported; use 'longest' (or True), 'max_length' or 'do_not_pad'."
                ) from None
        needs_max_length = strategy == PaddingStrategy.MAX_LENGTH or truncation
        if needs_max_length and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(
                f"padding='max_length' and truncation=True need a positive integer max_length (in frames), "
                f"got max_length={max_length!r}."
            )
        return strategy

    def _samples_needed_for(self, num_frames: int) -> int:
        """Shortest prefix of a clip whose first `num_frames` frames equal those of the whole clip."""
        return (num_frames - 1) * self.hop_length + self.n_fft // 2 + 1

    def _padded_length(
        self, num_frames: list[int], strategy: PaddingStrategy, max_length: int | None, pad_to_multiple_of: int | None
    ) -> int | None:
        """Common padded frame count, or `None` when every clip keeps its own length."""
        if strategy == PaddingStrategy.DO_NOT_PAD:
            return None
        if strategy == PaddingStrategy.MAX_LENGTH and max_length is not None:  # (checked by `_padding_strategy`)
            too_long = [index for index, frames in enumerate(num_frames) if frames > max_length]
            if too_long:
                raise ValueError(
                    f"Clip {too_long[0]} has {num_frames[too_long[0]]} frames, more than max_length={max_length}; "
                    "pass truncation=True to cut it."
                )
            target = max_length
        else:
            target = max(num_frames)
        multiple = self.pad_to_multiple_of if pad_to_multiple_of is None else pad_to_multiple_of
        if multiple:
            target = -(-target // multiple) * multiple
        return target

    def _assemble(
        self,
        features: torch.Tensor,
        num_frames: list[int],
        target: int | None,
        return_attention_mask: bool | None,
        return_tensors: str | None,
    ) -> BatchFeature:
        """Cut each clip to its real frames, pad to `target` with `padding_value` and build the frame mask.

        `target=None` (no padding) keeps each clip at its own length; stacking is then only possible when all
        clips have the same frame count.
        """
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; use 'pt', 'np' or None.")
        keep_own_length = target is None
        if keep_own_length:
            if return_tensors is not None and len(set(num_frames)) > 1:
                raise ValueError(
                    f"Clips have different frame counts {num_frames}; padding='do_not_pad' cannot return stacked "
                    "tensors. Use padding='longest' or return_tensors=None."
                )
            target = max(num_frames)
        extra = target - features.shape[1]  # frames to add with `padding_value` (or, if negative, to cut)
        features = torch.nn.functional.pad(features, (0, 0, 0, extra), value=self.padding_value).contiguous()
        lengths = torch.tensor(num_frames, device=features.device)
        mask = torch.arange(target, device=features.device).unsqueeze(0) < lengths.unsqueeze(1)
        features.masked_fill_(~mask[..., None], self.padding_value)
        data = {"input_values": features}
        if return_attention_mask:
            data["attention_mask"] = mask.to(torch.int32)
        if return_tensors != "pt":
            data = {key: value.cpu() for key, value in data.items()}
        if return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        elif return_tensors is None:  # one array per clip, cut to its own length unless padded
            lengths = num_frames if keep_own_length else [target] * len(num_frames)
            data = {
                key: [row[:n].numpy() for row, n in zip(value, lengths, strict=True)] for key, value in data.items()
            }
        return BatchFeature(data=data, tensor_type=return_tensors)


def to_mono_waveform(
    array: Any,
    index: int = 0,
    allow_multichannel: bool = True,
    channel_axis: int | None = None,
    keep_device: bool = False,
) -> torch.Tensor:
    """THE conversion of one in-memory clip to a mono 1-D float32 tensor `(samples,)`; every path of the package
    (feature extractor, pipeline, pre-training data, figures) downmixes through it. `index` names the clip in errors.

    Channel axis: `channel_axis` when the caller knows the layout (torchcodec gives `(channels, samples)`: 0;
    soundfile `(samples, channels)`: 1); otherwise the **shorter** axis, at most 8 channels (a clip has far more
    samples than channels). Channels are averaged. int16 PCM is scaled by 1/32768, other floating point is cast to
    float32, other integer types are refused. The result is on the CPU unless `keep_device=True` keeps a tensor
    where it is (the extractor does, so that GPU clips are featurised there); CPU tensors and C-contiguous numpy
    arrays already float32 mono are not copied.
    """
    waveform = _as_tensor(array, index, keep_device)
    waveform = _to_float32(waveform, index)
    if waveform.ndim == 2 and allow_multichannel:
        if channel_axis is None:
            channel_axis = int(waveform.shape[1] < waveform.shape[0])
            if waveform.shape[channel_axis] > MAX_CHANNELS:
                raise ValueError(
                    f"Clip {index} has shape {tuple(waveform.shape)}: a multi-channel clip may have at most "
                    f"{MAX_CHANNELS} channels (the shorter axis is taken as the channel axis)."
                )
        waveform = (
            waveform.mean(dim=channel_axis) if waveform.shape[channel_axis] > 1 else waveform.squeeze(channel_axis)
        )
    if waveform.ndim != 1:
        raise ValueError(
            f"Clip {index} has shape {tuple(waveform.shape)}; expected a 1-D mono clip"
            + (" or a 2-D multi-channel clip." if allow_multichannel else ".")
        )
    return waveform


def _as_tensor(array: Any, index: int, keep_device: bool = False) -> torch.Tensor:
    """A tensor sharing memory with `array` where possible (numpy arrays, tensors); lists are converted. Tensors
    move to the CPU unless `keep_device`."""
    if isinstance(array, torch.Tensor):
        return array.detach() if keep_device else array.detach().cpu()
    try:
        converted = np.asarray(array)
        if not converted.flags.writeable or any(stride < 0 for stride in converted.strides):
            converted = converted.copy()
        return torch.from_numpy(converted)
    except TypeError:
        raise ValueError(f"Clip {index} of type {type(array).__name__} is not a numeric audio array.") from None


def _to_float32(waveform: torch.Tensor, index: int) -> torch.Tensor:
    """int16 PCM -> float32 / 32768; floating point -> float32; anything else is rejected."""
    if waveform.dtype == torch.int16:
        return waveform.to(torch.float32) / INT16_SCALE
    if waveform.is_floating_point():
        return waveform.to(torch.float32)
    raise ValueError(
        f"Clip {index} has dtype {str(waveform.dtype).replace('torch.', '')}; only int16 PCM or floating point "
        "audio is supported."
    )


__all__ = ["AaSPFeatureExtractor"]
