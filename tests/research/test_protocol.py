# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-registration: the record is written before the test is scored, and a scored configuration is not scored again
unless a reason is given (which the new record keeps)."""

import json
import subprocess

import pytest

from research.protocol import REPO_ROOT, AlreadyScoredError, Registry


CONFIGURATION = {"task": "keyword", "corpus_seed": 7, "recipe": {"max_steps": 3000, "learning_rate": 1e-3}}
UNITS = [{"arm": arm, "seed": seed, "step": 3000} for arm in ("aape", "plain") for seed in (0, 1, 2)]
HYPOTHESIS = "The probe after 3000 steps beats the same architecture at random initialisation."


def register_and_score(registry: Registry, units=UNITS, **options):
    registration = registry.register(CONFIGURATION, units, HYPOTHESIS, script="research.test", **options)
    for unit in units:
        registration.mark_scored(unit, {"accuracy": 0.5, "n": 120})
    return registration


def test_the_record_holds_configuration_hypothesis_date_and_commit_before_scoring(tmp_path):
    registration = Registry(tmp_path).register(CONFIGURATION, UNITS, HYPOTHESIS, script="research.test")
    [path] = list(tmp_path.glob("*.json"))
    assert path == registration.path
    record = json.loads(path.read_text())
    assert record["configuration"] == CONFIGURATION and record["hypothesis"] == HYPOTHESIS
    assert record["script"] == "research.test" and record["registered_at"].endswith("+00:00")
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert record["git_commit"] == head.stdout.strip() and len(record["git_commit"]) == 40
    assert [{k: unit[k] for k in ("arm", "seed", "step")} for unit in record["units"]] == UNITS
    assert all(unit["scored_at"] is None for unit in record["units"])  # written before any scoring
    assert record["rescore"] is None
    registration.mark_scored(UNITS[0], {"accuracy": 0.625, "n": 120})
    scored = json.loads(path.read_text())["units"][0]
    assert scored["scored_at"] is not None and scored["result"] == {"accuracy": 0.625, "n": 120}


def test_a_scored_configuration_is_not_scored_again_silently(tmp_path):
    registry = Registry(tmp_path)
    first = register_and_score(registry)
    with pytest.raises(AlreadyScoredError, match=r"6 of the 6 test scoring\(s\).*already scored.*--rescore"):
        registry.register(CONFIGURATION, UNITS, HYPOTHESIS, script="research.test")
    # One overlapping unit is enough: a run that adds seeds still cannot re-score the old ones.
    more_seeds = [UNITS[0], {"arm": "aape", "seed": 3, "step": 3000}]
    with pytest.raises(AlreadyScoredError, match=first.record["id"]):
        registry.register(CONFIGURATION, more_seeds, HYPOTHESIS, script="research.test")
    assert list(tmp_path.glob("*.json")) == [first.path]  # nothing was registered


def test_rescoring_with_a_reason_is_recorded(tmp_path):
    registry = Registry(tmp_path)
    first = register_and_score(registry)
    second = registry.register(
        CONFIGURATION, UNITS[:1], HYPOTHESIS, script="research.test", rescore="the test split was rebuilt"
    )
    assert second.path != first.path
    record = json.loads(second.path.read_text())
    assert record["rescore"] == {"reason": "the test split was rebuilt", "previously_scored_in": [first.record["id"]]}
    with pytest.raises(ValueError, match="--rescore needs a reason"):
        registry.register(CONFIGURATION, UNITS, HYPOTHESIS, script="research.test", rescore="  ")


def test_a_different_configuration_or_an_unscored_registration_is_not_a_rescore(tmp_path):
    registry = Registry(tmp_path)
    register_and_score(registry)
    other_seed = {**CONFIGURATION, "corpus_seed": 8}
    registry.register(other_seed, UNITS, HYPOTHESIS, script="research.test")  # new units: allowed
    # Registered but never scored (e.g. a crash during pre-training): registering it again is allowed.
    again = registry.register(other_seed, UNITS, HYPOTHESIS, script="research.test")
    assert again.record["rescore"] is None and len(list(tmp_path.glob("*.json"))) == 3


def test_a_registration_needs_a_hypothesis_and_distinct_units(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(ValueError, match="needs a hypothesis"):
        registry.register(CONFIGURATION, UNITS, " ", script="research.test")
    with pytest.raises(ValueError, match="identical"):
        registry.register(CONFIGURATION, [UNITS[0], UNITS[0]], HYPOTHESIS, script="research.test")
    registration = registry.register(CONFIGURATION, UNITS[:1], HYPOTHESIS, script="research.test")
    with pytest.raises(KeyError, match="not registered"):
        registration.mark_scored(UNITS[1], {"accuracy": 1.0})
