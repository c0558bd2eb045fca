"""Which parameters get weight decay (pre-training and fine-tuning share the rule)."""

import torch

from research.ablations import arm_config, build_model
from transformers_aasp import AaSPForPreTraining
from transformers_aasp.training.optimization import weight_decay_groups


def group_names(model, groups):
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    return [{names[id(parameter)] for parameter in group["params"]} for group in groups]


def test_fixed_lambda_gates_norms_and_biases_get_no_weight_decay():
    """Checked on the research arms that hold a fixed lambda and a fusion gate (the package model has neither)."""
    fixed = build_model("fixed_lambda", AaSPForPreTraining, arm_config("fixed_lambda"))
    assert "aasp.embeddings.patch_embeddings.lambda_raw" in group_names(fixed, weight_decay_groups(fixed, 0.05))[1]
    model = build_model("all_options_h4", AaSPForPreTraining, arm_config("all_options_h4"))
    groups = weight_decay_groups(model, weight_decay=0.05)
    decayed, exempt = group_names(model, groups)
    assert [group["weight_decay"] for group in groups] == [0.05, 0.0]
    assert "aasp.embeddings.patch_embeddings.gated_fusion.gate" in exempt
    assert "aasp.embeddings.cls_token" in exempt
    assert "aasp.layers.0.attention.q_proj.weight" in decayed
    assert "aasp.embeddings.patch_embeddings.gated_fusion.alias_projection.weight" in decayed
    assert not any("norm" in name or name.endswith(".bias") for name in decayed)
    # the EMA teacher is not trained
    assert not any(name.startswith("teacher.") for name in decayed | exempt)
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert decayed | exempt == trainable


def test_adamw_leaves_a_fixed_lambda_without_gradient_where_it_was():
    """With no gradient on lambda_raw, AdamW's decoupled decay would still move it if it were decayed."""
    model = build_model("fixed_lambda", AaSPForPreTraining, arm_config("fixed_lambda"))
    lambda_raw = model.aasp.embeddings.patch_embeddings.lambda_raw
    before = lambda_raw.detach().clone()
    optimizer = torch.optim.AdamW(weight_decay_groups(model, weight_decay=0.5), lr=0.1)
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter) if parameter.requires_grad else None
    optimizer.step()
    assert torch.equal(lambda_raw.detach(), before)
