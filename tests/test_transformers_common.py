# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""transformers' own common model tests (`ModelTesterMixin`, `ConfigTester`) on the three AaSP model classes.

The common tests come from the source distribution of the installed transformers version, fetched by
tests/fetch_transformers_tests.py (`make test` runs it first; `ensure()` below fetches them if they are missing and
fails the collection of this module if it cannot). They are imported as the package `transformers_common_tests`, so
their names cannot clash with our tests.

Two test classes, because the common tests read one sequence length per test class: `AaSPModelTest` runs the
encoder and the classifier (every clip gives 1 + N tokens), `AaSPForPreTrainingTest` the pre-training model, whose
hidden states and attentions are those of the student on the masked views, (batch * num_mask_clones, 1 + K, D) with
K visible patches. The pre-training inputs carry `noise`, so its masks are a function of the inputs (as ViTMAE's and
Hiera's common tests pass `noise`) and the determinism and save/load comparisons run unchanged.

Every test skipped below says why it does not apply to this architecture.
"""

import sys
import tempfile
import unittest
from unittest import mock

import torch
from fetch_transformers_tests import ensure
from parameterized import parameterized
from torch import nn
from transformers import PreTrainedConfig
from transformers.models.auto import modeling_auto

from transformers_aasp import AaSPConfig, AaSPForAudioClassification, AaSPForPreTraining, AaSPModel


sys.path.insert(0, str(ensure()))
from transformers_common_tests.test_configuration_common import ConfigTester
from transformers_common_tests.test_modeling_common import (
    TEST_EAGER_MATCHES_SDPA_INFERENCE_PARAMETERIZATION,
    ModelTesterMixin,
    _test_eager_matches_sdpa_inference,
    floats_tensor,
)
from transformers_common_tests.utils.test_configuration_utils import config_common_kwargs


NO_INPUT_EMBEDDINGS = (
    "AaSP reads log-mel frames (input_values); it has no token vocabulary, so there are no input_ids or "
    "inputs_embeds (as for every audio spectrogram model, e.g. AST)"
)

LEFT_PADDING = (
    "AaSP's attention_mask marks real frames of a spectrogram, and a clip's frames must come first: the feature "
    "extractor pads on the right, and a left-padded mask is refused with a ValueError, because frames of padding before "
    "a clip would shift its patch grid (the right-padded and unmasked cases of this test run)"
)

# In-tree models are listed in these tables of transformers.models.auto.modeling_auto, which the common tests read to
# decide, for example, that a base model has no loss to train or that an audio classifier needs `labels`.
# `import transformers_aasp` registers AaSP through the Auto classes' `register`, which the tables do not see; the
# test classes add AaSP to them while they run, so the common tests treat AaSP as they would an in-tree model.
AUTO_TABLES = {
    "MODEL_MAPPING_NAMES": "AaSPModel",
    "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES": "AaSPForAudioClassification",
    "MODEL_FOR_PRETRAINING_MAPPING_NAMES": "AaSPForPreTraining",
}


class AaSPModelTester:
    """Small AaSP configurations and inputs for the common tests.

    Inputs: `input_values` (batch, frames, 80) log-mel frames, as AaSPFeatureExtractor gives, and a right-padded
    frame `attention_mask` (the last clip is shorter). 44 frames pad to 48, a grid of 5 x 3 = 15 patches of 16 x 16.
    """

    def __init__(
        self,
        parent,
        batch_size=3,
        num_frames=44,
        short_clip_frames=30,
        num_mel_bins=80,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        num_labels=3,
        num_mask_clones=2,
        mask_ratio=0.6,
        is_training=True,
        pretraining=False,
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.num_frames = num_frames
        self.short_clip_frames = short_clip_frames
        self.num_mel_bins = num_mel_bins
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.num_labels = num_labels
        self.num_mask_clones = num_mask_clones
        self.mask_ratio = mask_ratio
        self.is_training = is_training
        self.pretraining = pretraining

        self.num_patches = self.get_config().patch_grid(num_frames).num_patches
        if pretraining:
            # the student sees K = round((1 - mask_ratio) * valid patches) patches of the longest clip, plus CLS
            self.seq_length = 1 + round((1 - mask_ratio) * self.num_patches)
            # Read only by the common eager-vs-sdpa test, which sizes ViTMAE's `noise`, (batch,
            # (image_size // patch_size) ** 2), from them; AaSPForPreTrainingTest._prepare_for_class replaces that
            # noise by AaSP's.
            self.image_size = self.patch_size = 1
        else:
            self.seq_length = 1 + self.num_patches  # CLS + every patch

    def get_config(self):
        return AaSPConfig(
            num_mel_bins=self.num_mel_bins,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            num_labels=self.num_labels,
            lambda_hidden_size=16,
            lambda_num_layers=1,
            lambda_num_heads=2,
            num_kernels=4,
            sblu_half_length=8,
            num_mask_clones=self.num_mask_clones,
            mask_ratio=self.mask_ratio,
            mask_block_size=2,
            predictor_hidden_size=16,
            predictor_num_layers=1,
            predictor_num_heads=2,
            predictor_intermediate_size=24,
            contrastive_projection_size=8,
            attn_implementation="eager",
        )

    def prepare_config_and_inputs_for_common(self):
        input_values = floats_tensor([self.batch_size, self.num_frames, self.num_mel_bins])
        attention_mask = torch.ones(self.batch_size, self.num_frames, dtype=torch.long)
        attention_mask[-1, self.short_clip_frames :] = 0
        inputs = {"input_values": input_values, "attention_mask": attention_mask}
        if self.pretraining:
            inputs["noise"] = self.noise(self.batch_size, self.num_frames)
        return self.get_config(), inputs

    def noise_shape(self, batch_size, num_frames):
        return (batch_size, self.num_mask_clones, 2, self.get_config().patch_grid(num_frames).num_patches)

    def noise(self, batch_size, num_frames):
        """AaSPForPreTraining's `noise`: uniform values that decide the masks, drawn from a fixed seed."""
        return torch.rand(self.noise_shape(batch_size, num_frames), generator=torch.Generator().manual_seed(0))


class AaSPCommonTests(ModelTesterMixin):
    """What the two test classes share: AaSP in the Auto tables while they run, and the skips of tests that do not
    apply to an audio spectrogram model."""

    test_resize_embeddings = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for table, model_name in AUTO_TABLES.items():
            patcher = mock.patch.dict(getattr(modeling_auto, table), {AaSPConfig.model_type: model_name})
            patcher.start()
            cls.addClassCleanup(patcher.stop)

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_config_common_kwargs_cover_pretrained_config(self):
        """`config_common_kwargs` (ConfigTester's check_config_arguments_init) must set every argument of the installed
        PreTrainedConfig to a non-default value; checked here because the fetch script writes a stand-in for it when
        the sdist lacks tests/utils/."""
        base = PreTrainedConfig()
        internal = {"is_encoder_decoder", "transformers_version"}
        public = {name for name in vars(base) if not name.startswith("_") and name not in internal}
        self.assertEqual(sorted(public - config_common_kwargs.keys()), [])
        self.assertEqual([key for key, value in config_common_kwargs.items() if getattr(base, key) == value], [])

    @parameterized.expand(TEST_EAGER_MATCHES_SDPA_INFERENCE_PARAMETERIZATION)
    def test_eager_matches_sdpa_inference(
        self, name, dtype, padding_side, use_attention_mask, output_attentions, enable_kernels
    ):
        if padding_side == "left" and use_attention_mask:
            self.skipTest(LEFT_PADDING)
        _test_eager_matches_sdpa_inference(
            self, name, dtype, padding_side, use_attention_mask, output_attentions, enable_kernels
        )

    @unittest.skip(reason=NO_INPUT_EMBEDDINGS)
    def test_inputs_embeds(self):
        pass

    @unittest.skip(reason=NO_INPUT_EMBEDDINGS)
    def test_inputs_embeds_matches_input_ids(self):
        pass

    def test_model_get_set_embeddings(self):
        """As in AST's test: the input embeddings are the patch stem, and there are no output embeddings."""
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config)
            self.assertIsInstance(model.get_input_embeddings(), nn.Module)
            self.assertIsNone(model.get_output_embeddings())


class AaSPModelTest(AaSPCommonTests, unittest.TestCase):
    all_model_classes = (AaSPModel, AaSPForAudioClassification)

    def setUp(self):
        self.model_tester = AaSPModelTester(self)
        self.config_tester = ConfigTester(
            self,
            config_class=AaSPConfig,
            has_text_modality=False,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
        )


class AaSPForPreTrainingTest(AaSPCommonTests, unittest.TestCase):
    all_model_classes = (AaSPForPreTraining,)

    def setUp(self):
        self.model_tester = AaSPModelTester(self, pretraining=True)
        self.config_tester = ConfigTester(
            self, config_class=AaSPConfig, has_text_modality=False, num_mask_clones=2, mask_ratio=0.6
        )

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels)
        values, noise = inputs.get("input_values"), inputs.get("noise")
        if noise is not None and values is not None:
            shape = self.model_tester.noise_shape(*values.shape[:2])
            if tuple(noise.shape) != shape:
                # the eager-vs-sdpa test passes ViTMAE's noise, (batch, num_patches): give AaSP's for that batch
                inputs["noise"] = self.model_tester.noise(*values.shape[:2]).to(values.device)
        return inputs

    def test_base_model_prefix_loads_base_weights(self):
        """The common test takes every child of the base model's class for the base model, but AaSPForPreTraining
        has two AaSPModel children: the student `aasp` (the base_model_prefix) and its EMA teacher. Same check with
        that in mind: an encoder checkpoint loads into the student, and the teacher starts as a frozen copy of it
        (not with random weights); a pre-training checkpoint keeps its teacher, frozen."""
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        encoder = AaSPModel(config)
        self.assertEqual(AaSPForPreTraining.base_model_prefix, "aasp")
        with tempfile.TemporaryDirectory() as folder:
            encoder.save_pretrained(folder)
            model, info = AaSPForPreTraining.from_pretrained(folder, output_loading_info=True)
        self.assertEqual([key for key in info["missing_keys"] if key.startswith("aasp.")], [])
        for name, tensor in encoder.state_dict().items():
            torch.testing.assert_close(model.aasp.state_dict()[name], tensor, msg=f"student {name}")
            torch.testing.assert_close(model.teacher.state_dict()[name], tensor, msg=f"teacher {name}")
        self.assertFalse(any(parameter.requires_grad for parameter in model.teacher.parameters()))

        with torch.no_grad():
            for parameter in model.teacher.parameters():
                parameter.add_(1.0)  # a teacher that differs from the student
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            loaded = AaSPForPreTraining.from_pretrained(folder)
        for name, tensor in model.teacher.state_dict().items():
            torch.testing.assert_close(loaded.teacher.state_dict()[name], tensor, msg=f"teacher {name}")
        self.assertFalse(any(parameter.requires_grad for parameter in loaded.teacher.parameters()))
        self.assertTrue(all(parameter.requires_grad for parameter in loaded.aasp.parameters()))
