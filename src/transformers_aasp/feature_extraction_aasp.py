"""Log-mel feature extractor for AaSP (16 kHz mono, 80 mel bins, 10 ms hop).

This file is also shipped as Hub remote code: top-level imports are limited to torch, numpy and transformers,
and torchaudio is only imported when `is_torchaudio_available()` says so.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import PaddingStrategy, logging
from transformers.utils.import_utils import is_torchaudio_available


logger = logging.get_logger(__name__)

INT16_SCALE = 32768.0
MAX_CHANNELS = 8


@functools.lru_cache(maxsize=8)
def mel_filterbank(
    num_frequency_bins: int, num_mel_bins: int, f_min: float, f_max: float, sampling_rate: int, use_torchaudio: bool
) -> torch.Tensor:
    """HTK-scale triangular mel filterbank without area normalisation.

    Returns:
        `torch.Tensor` of shape `(num_frequency_bins, num_mel_bins)`, float32. Cached per parameter set, so it is
        never stored on (nor serialised with) the feature extractor.
    """
    if use_torchaudio and is_torchaudio_available():  # this exact guard keeps torchaudio optional for remote code
        import torchaudio

        filters = torchaudio.functional.melscale_fbanks(
            n_freqs=num_frequency_bins,
            f_min=f_min,
            f_max=f_max,
            n_mels=num_mel_bins,
            sample_rate=sampling_rate,
            norm=None,
            mel_scale="htk",
        )
        return filters.to(torch.float32)

    from transformers.audio_utils import mel_filter_bank

    filters = mel_filter_bank(
        num_frequency_bins=num_frequency_bins,
        num_mel_filters=num_mel_bins,
        min_frequency=f_min,
        max_frequency=f_max,
        sampling_rate=sampling_rate,
        norm=None,
        mel_scale="htk",
    )
    return torch.from_numpy(filters).to(torch.float32)


@functools.lru_cache(maxsize=8)
def hann_window(length: int) -> torch.Tensor:
    """Periodic Hann window of `length` samples (the `torch.stft` / torchaudio convention), shape `(length,)`."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32)


def reflect_pad_per_clip(waveforms: torch.Tensor, lengths: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect-pad every clip by `pad` samples on both sides of its *own* end points.

    Equivalent to `torch.nn.functional.pad(clip, (pad, pad), mode="reflect")` applied to each clip alone, so that
    a clip's frames do not depend on what else is in the batch (zero padding of shorter clips is never reflected).
    Only the 2 * pad reflected samples per clip are gathered; the rest is one slice copy.

    Args:
        waveforms: `(batch, max_samples)` float tensor, clips right-padded with zeros.
        lengths: `(batch,)` int64 number of real samples per clip; every length must exceed `pad`.
        pad: number of samples to add on each side.

    Returns:
        `(batch, max_samples + 2 * pad)` tensor; positions past a clip's own padded end hold zeros.
    """
    padded = torch.nn.functional.pad(waveforms, (pad, pad))
    padded[:, :pad] = waveforms[:, 1 : pad + 1].flip(-1)  # every clip starts at sample 0
    offsets = torch.arange(pad, device=waveforms.device)
    lengths = lengths.to(waveforms.device).unsqueeze(1)
    source = (lengths - 2 - offsets).clamp(min=0)
    return padded.scatter(1, lengths + pad + offsets, waveforms.gather(1, source))


def reject_non_finite(waveforms: torch.Tensor) -> None:
    """Raise a ValueError naming the first clip of `(batch, samples)` that holds a NaN or Inf sample.

    One sum per clip finds suspects (a NaN or Inf makes the sum non-finite); only then is every sample checked.
    """
    suspects = ~torch.isfinite(waveforms.sum(dim=1, dtype=torch.float64))
    if not suspects.any():
        return
    bad = ~torch.isfinite(waveforms).all(dim=1)
    if bad.any():
        raise ValueError(f"Clip {int(bad.nonzero()[0])} contains NaN or Inf samples.")


def is_audio_decoder(obj: Any) -> bool:
    """True for torchcodec `AudioDecoder`s, including the subclass that `datasets` 5 returns for `Audio` columns."""
    return callable(getattr(obj, "get_all_samples", None))


class AaSPFeatureExtractor(SequenceFeatureExtractor):
    r"""Turns raw audio into normalised log-mel spectrograms for AaSP models.

    Pipeline per clip of `L` samples at 16 kHz: centred STFT (periodic Hann window of `win_length` = `n_fft` = 400
    samples, hop 160, reflect padding of 200 samples at the clip's own ends) -> power spectrum -> 80 HTK mel bins
    between `f_min` = 50 Hz and `f_max` = 8000 Hz (no area normalisation) -> `log(mel + log_eps)` ->
    `(x - mean) / std`. A clip gives `1 + L // hop_length` frames (100 frames per second).

    `mean` and `std` are dataset statistics stored in `preprocessor_config.json`; compute them with
    `transformers_aasp.data.normalization.compute_normalization_stats` instead of typing them in.

    Accepted inputs (`raw_audio`):
        - one clip: a 1-D `np.ndarray` / `torch.Tensor`, or a list of floats;
        - a batch of mono clips: a 2-D array / tensor `(batch, samples)` (transformers convention), or a list /
          tuple of clips;
        - inside a list, a 2-D item is **one multi-channel clip** (channel axis = the shorter axis, at most 8
          channels) and is downmixed to mono by averaging the channels;
        - dicts `{"array": ..., "sampling_rate": ...}` (as `datasets` used to return) and torchcodec
          `AudioDecoder`s (what `datasets` 5 returns for an `Audio` column), downmixed the same way.

        int16 PCM is scaled by 1/32768, other integer types are rejected, floating point is cast to float32.
        Audio is never resampled here: a clip at another rate raises a `ValueError`.

    Returns (from `__call__`), with `return_tensors="pt"`:
        - `input_values`: `(batch, frames_padded, num_mel_bins)` float32, right-padded with `padding_value`
          (after normalisation), `frames_padded` a multiple of `pad_to_multiple_of`;
        - `attention_mask`: `(batch, frames_padded)` int32, 1 for real frames.

    Args:
        num_mel_bins (`int`, defaults to 80): mel bins (also `feature_size`).
        sampling_rate (`int`, defaults to 16000): expected input rate in Hz.
        n_fft (`int`, defaults to 400): FFT size; also the window length.
        hop_length (`int`, defaults to 160): frame shift in samples.
        f_min / f_max (`float`, defaults to 50.0 / 8000.0): mel filterbank range in Hz.
        log_eps (`float`, defaults to float32 machine epsilon): added to the mel energies before the log.
        mean / std (`float`, defaults to 0.0 / 1.0): normalisation statistics of the log-mel values.
        pad_to_multiple_of (`int`, defaults to 16): frames are padded up to a multiple of this (the patch size).
        padding_value (`float`, defaults to 0.0): value of padded frames, after normalisation.
        return_attention_mask (`bool`, defaults to True).
    """

    model_input_names = ["input_values", "attention_mask"]

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
        if feature_size != num_mel_bins:
            raise ValueError(f"feature_size ({feature_size}) must equal num_mel_bins ({num_mel_bins}).")
        if kwargs.get("padding_side", "right") != "right":
            raise ValueError(
                f"AaSPFeatureExtractor only pads on the right, got padding_side={kwargs['padding_side']!r}."
            )
        if not std > 0:
            raise ValueError(f"std must be positive, got {std}.")
        if not 0 <= f_min < f_max <= sampling_rate / 2:
            raise ValueError(f"Need 0 <= f_min < f_max <= sampling_rate / 2, got f_min={f_min}, f_max={f_max}.")
        super().__init__(
            feature_size=num_mel_bins,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.num_mel_bins = num_mel_bins
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.log_eps = float(log_eps)
        self.mean = float(mean)
        self.std = float(std)
        self.pad_to_multiple_of = pad_to_multiple_of

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
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValueError(f"Normalisation statistics must be finite with std > 0, got mean={mean}, std={std}.")
        self.mean = float(mean)
        self.std = float(std)

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
        """Featurise one clip or a batch of clips.

        Args:
            raw_audio: see the class docstring for the accepted forms.
            sampling_rate: rate of `raw_audio` in Hz; must equal `self.sampling_rate`. `None` logs a warning unless
                every clip carries its own rate (dicts, decoders).
            padding: `"longest"` / `True` (default), `"max_length"` (needs `max_length`), or `False` /
                `"do_not_pad"` (each clip keeps its own frame count).
            max_length: frame count for `padding="max_length"` and for `truncation`.
            truncation: keep only the first `max_length` frames of longer clips.
            pad_to_multiple_of: overrides `self.pad_to_multiple_of` for this call (`None`: keep it; 1: no rounding).
            return_attention_mask: overrides `self.return_attention_mask`.
            return_tensors: `"pt"`, `"np"` or `None` (lists of per-clip numpy arrays).
            device: where to compute (e.g. `"cuda"`): the whole batch is moved there once and, with
                `return_tensors="pt"`, the features stay there. Default: CPU.

        Returns:
            `BatchFeature` with `input_values` `(batch, frames_padded, num_mel_bins)` float32 and, unless disabled,
            `attention_mask` `(batch, frames_padded)` int32.
        """
        if kwargs:
            logger.warning(f"AaSPFeatureExtractor ignores unexpected arguments: {sorted(kwargs)}")
        self._check_sampling_rate_argument(sampling_rate)
        strategy = self._padding_strategy(padding, max_length, truncation)
        clips, rates = self._clips_from_input(raw_audio)
        if sampling_rate is None and any(rate is None for rate in rates):
            logger.warning_once(
                f"No sampling_rate was passed to AaSPFeatureExtractor; assuming {self.sampling_rate} Hz. Pass "
                "`sampling_rate` to catch silently wrong features from audio at another rate."
            )
        for index, (clip, rate) in enumerate(zip(clips, rates)):
            self._validate_clip(clip, rate, index)

        if truncation:
            clips = [clip[: self._samples_needed_for(max_length)] for clip in clips]
        num_frames = [self.num_frames(len(clip)) for clip in clips]
        if truncation:
            num_frames = [min(frames, max_length) for frames in num_frames]
        target = self._padded_length(num_frames, strategy, max_length, pad_to_multiple_of)

        features = self.log_mel(clips, device=device)
        features = (features - self.mean) / self.std
        return self._assemble(features, num_frames, target, return_attention_mask, return_tensors)

    def log_mel(self, clips: Sequence[torch.Tensor], device: str | torch.device | None = None) -> torch.Tensor:
        """Un-normalised log-mel spectrograms of mono 1-D float32 clips, computed for the whole batch at once.

        Args:
            clips: `batch` tensors of shape `(samples_i,)`, each longer than `n_fft // 2` samples.

        Returns:
            `(batch, 1 + max_i(samples_i) // hop_length, num_mel_bins)` float32. Frames past
            `1 + samples_i // hop_length` belong to padding and hold arbitrary values.
        """
        lengths = torch.tensor([len(clip) for clip in clips], dtype=torch.long)
        waveforms = torch.nn.utils.rnn.pad_sequence(list(clips), batch_first=True)
        if device is not None:
            waveforms = waveforms.to(device)
        reject_non_finite(waveforms)
        padded = reflect_pad_per_clip(waveforms, lengths, self.n_fft // 2)
        spectrum = torch.stft(
            padded,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=hann_window(self.n_fft).to(padded.device),
            center=False,
            return_complex=True,
        )
        power = torch.view_as_real(spectrum).pow(2).sum(-1).transpose(1, 2)  # |X|^2 without a complex abs
        mel = torch.matmul(power, self._mel_filters().to(power.device))
        return torch.log(mel + self.log_eps)

    def _mel_filters(self) -> torch.Tensor:
        """`(n_fft // 2 + 1, num_mel_bins)` filterbank, from torchaudio when it is installed."""
        num_frequency_bins = self.n_fft // 2 + 1
        use_torchaudio = is_torchaudio_available()
        return mel_filterbank(
            num_frequency_bins, self.num_mel_bins, self.f_min, self.f_max, self.sampling_rate, use_torchaudio
        )

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
        clips, rates = [], []
        for index, item in enumerate(items):
            clip, rate = self._mono_clip(item, index, allow_multichannel=is_batch or isinstance(item, Mapping))
            clips.append(clip)
            rates.append(rate)
        return clips, rates

    @staticmethod
    def _split_batch(raw_audio: Any) -> tuple[list[Any], bool]:
        if isinstance(raw_audio, (np.ndarray, torch.Tensor)):
            if raw_audio.ndim == 1:
                return [raw_audio], False
            if raw_audio.ndim == 2:
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
            return to_mono_waveform(samples.data, index, allow_multichannel=True), int(samples.sample_rate)
        if isinstance(item, Mapping):
            array = item.get("array", item.get("raw"))
            if array is None or "sampling_rate" not in item:
                raise ValueError(
                    f"Clip {index}: a dict input needs an 'array' (or 'raw') and a 'sampling_rate' key, got keys "
                    f"{sorted(item)}."
                )
            return to_mono_waveform(array, index, allow_multichannel=True), int(item["sampling_rate"])
        return to_mono_waveform(item, index, allow_multichannel), None

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
        if strategy == PaddingStrategy.MAX_LENGTH:
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
        computed = features.shape[1]
        if computed < target:
            features = torch.nn.functional.pad(features, (0, 0, 0, target - computed))
        lengths = torch.tensor(num_frames, device=features.device)
        mask = torch.arange(target, device=features.device).unsqueeze(0) < lengths.unsqueeze(1)
        features = features[:, :target].masked_fill(~mask.unsqueeze(-1), self.padding_value).contiguous()
        data = {"input_values": features}
        if return_attention_mask:
            data["attention_mask"] = mask.to(torch.int32)
        if return_tensors != "pt":
            data = {key: value.cpu() for key, value in data.items()}
        if return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        elif return_tensors is None:
            data = {
                key: [row[: frames if keep_own_length else target].numpy() for row, frames in zip(value, num_frames)]
                for key, value in data.items()
            }
        return BatchFeature(data=data, tensor_type=return_tensors)


def to_mono_waveform(array: Any, index: int = 0, allow_multichannel: bool = True) -> torch.Tensor:
    """Convert one clip to a 1-D float32 CPU tensor `(samples,)`.

    A 2-D clip, `(channels, samples)` or `(samples, channels)`, is downmixed by averaging its channels; the channel
    axis is the shorter one and may hold at most 8 channels. int16 PCM is scaled by 1/32768; `index` names the clip
    in error messages.
    """
    if isinstance(array, torch.Tensor):
        waveform = array.detach().cpu()
    else:
        try:
            waveform = torch.from_numpy(np.array(array))
        except TypeError:
            raise ValueError(f"Clip {index} of type {type(array).__name__} is not a numeric audio array.") from None
    waveform = _to_float32(waveform, index)
    if waveform.ndim == 2 and allow_multichannel:
        channel_axis = int(waveform.shape[1] < waveform.shape[0])
        if waveform.shape[channel_axis] > MAX_CHANNELS:
            raise ValueError(
                f"Clip {index} has shape {tuple(waveform.shape)}: a multi-channel clip may have at most "
                f"{MAX_CHANNELS} channels (the shorter axis is taken as the channel axis)."
            )
        waveform = waveform.mean(dim=channel_axis)
    if waveform.ndim != 1:
        raise ValueError(
            f"Clip {index} has shape {tuple(waveform.shape)}; expected a 1-D mono clip"
            + (" or a 2-D multi-channel clip." if allow_multichannel else ".")
        )
    return waveform


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
