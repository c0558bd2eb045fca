# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-registration of test scorings, so that no choice can be tuned to a test split.

An evidence script makes every choice on validation data. Before it scores a test split it writes a record to the
registry folder (`research/registry/` by default): the configuration, the hypothesis, the date and the git commit.
After each test scoring it marks the scored unit in that record, together with the result. A unit is one test
scoring, such as one arm, seed and pre-training step probed on one task.

A unit whose test split was already scored, under any record in the registry, is not scored again silently.
`Registry.register` stops with `AlreadyScoredError` unless the script passes a reason (`--rescore "why"`), and the
reason is stored in the new record. A unit that was registered but never scored can be registered again: nothing
was seen, for example when a run crashed during pre-training.

Record, `<registry>/<UTC time>-<configuration hash>.json`:

    {"id", "script", "registered_at" (ISO 8601, UTC), "git_commit", "git_dirty", "hypothesis",
     "configuration" (what every unit shares: task, corpus seed, recipes, ...),
     "units": [{"unit_id", ...the unit's own fields (arm, seed, steps, ...), "scored_at", "result"}],
     "rescore": null or {"reason", "previously_scored_in": [record ids]}}

A unit's id is a hash of the configuration and the unit together. Any change of task, recipe, corpus seed, arm,
seed or steps therefore makes a new unit. Re-running an identical unit is what the registry refuses.

    python -m research.protocol                      # list the records of research/registry
    python -m research.protocol --registry_dir DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from transformers.utils import logging


logger = logging.get_logger("research.protocol")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REGISTRY_DIR = REPO_ROOT / "research" / "registry"


class AlreadyScoredError(RuntimeError):
    """A configuration whose test split was already scored was about to be scored again without a reason."""


def canonical_json(value) -> str:
    """One JSON text per value: sorted keys, no spaces (hash input)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def unit_id(configuration: dict, unit: dict) -> str:
    """16 hex digits identifying one test scoring: the shared configuration plus the unit's own fields."""
    return hashlib.sha1(canonical_json({"configuration": configuration, "unit": unit}).encode()).hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_state(root: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked files differ from it); (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(changes)


def write_json_atomically(path: Path, payload: dict) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


@dataclass
class Registration:
    """One record of the registry: mark its units scored as their test splits are scored."""

    path: Path
    record: dict

    def unit_id(self, unit: dict) -> str:
        return unit_id(self.record["configuration"], unit)

    def mark_scored(self, unit: dict, result: dict) -> None:
        """Record that `unit`'s test split has been scored, with its `result` (a small JSON-able summary)."""
        wanted = self.unit_id(unit)
        for entry in self.record["units"]:
            if entry["unit_id"] == wanted:
                entry["scored_at"], entry["result"] = utc_now(), result
                write_json_atomically(self.path, self.record)
                return
        raise KeyError(f"Unit {unit} is not registered in {self.path}.")


class Registry:
    """The folder of registration records (see the module docstring)."""

    def __init__(self, folder: str | Path = DEFAULT_REGISTRY_DIR):
        self.folder = Path(folder)

    def records(self) -> list[tuple[Path, dict]]:
        """Every record, oldest first."""
        if not self.folder.is_dir():
            return []
        return [(path, json.loads(path.read_text())) for path in sorted(self.folder.glob("*.json"))]

    def scored_units(self) -> dict[str, str]:
        """{unit id: id of the record that scored it} over the whole registry."""
        scored = {}
        for _, record in self.records():
            for entry in record["units"]:
                if entry.get("scored_at") is not None:
                    scored.setdefault(entry["unit_id"], record["id"])
        return scored

    def register(
        self,
        configuration: dict,
        units: list[dict],
        hypothesis: str,
        *,
        script: str,
        rescore: str | None = None,
    ) -> Registration:
        """Write the record of a scoring run before any test split is scored.

        Args:
            configuration: what every unit shares (task, corpus seed, recipes, ...); JSON-able.
            units: one dict per test scoring (e.g. {"arm", "seed", "step"}); JSON-able and distinct.
            hypothesis: what the scores are meant to show, stated before they exist.
            script: the evidence script, e.g. "research.learning_curve".
            rescore: the reason to score units that some record already scored; None refuses to.

        Raises:
            AlreadyScoredError: a unit was scored before and `rescore` is None.
            ValueError: no unit, duplicate units, an empty hypothesis or an empty rescore reason.
        """
        if not units:
            raise ValueError("Nothing to register: `units` is empty.")
        if not hypothesis or not hypothesis.strip():
            raise ValueError("A registration needs a hypothesis, stated before the test split is scored.")
        if rescore is not None and not rescore.strip():
            raise ValueError("--rescore needs a reason (it is written into the registration record).")
        ids = [unit_id(configuration, unit) for unit in units]
        if len(set(ids)) != len(ids):
            raise ValueError("Two units of one registration are identical.")
        previously = {i: record for i, record in self.scored_units().items() if i in set(ids)}
        if previously and rescore is None:
            raise AlreadyScoredError(already_scored_message(configuration, units, ids, previously, self.folder))
        commit, dirty = git_state()
        registered_at = utc_now()
        record_id = f"{registered_at.replace(':', '').replace('-', '')[:15]}Z-{unit_id(configuration, {})[:8]}"
        record = {
            "id": record_id,
            "script": script,
            "registered_at": registered_at,
            "git_commit": commit,
            "git_dirty": dirty,
            "hypothesis": hypothesis,
            "configuration": configuration,
            "units": [
                {"unit_id": i, **unit, "scored_at": None, "result": None} for i, unit in zip(ids, units, strict=True)
            ],
            "rescore": None,
        }
        if previously:
            record["rescore"] = {"reason": rescore, "previously_scored_in": sorted(set(previously.values()))}
            logger.warning(f"Re-scoring {len(previously)} unit(s) already scored, because: {rescore}")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{record_id}.json"
        suffix = 1
        while path.exists():  # two registrations within one second
            path, suffix = self.folder / f"{record_id}-{suffix}.json", suffix + 1
        write_json_atomically(path, record)
        logger.info(f"Registered {len(units)} test scoring(s) in {path}")
        return Registration(path, record)


def already_scored_message(configuration: dict, units: list, ids: list, previously: dict, folder: Path) -> str:
    shown = [unit for unit, i in zip(units, ids, strict=True) if i in previously][:3]
    records = sorted(set(previously.values()))
    task = configuration.get("task")
    return (
        f"{len(previously)} of the {len(units)} test scoring(s) of this configuration"
        f"{f' (task {task!r})' if task else ''} were already scored, e.g. {shown}, in registration record(s) "
        f"{records} of {folder}. A test split is scored once per registered configuration: change the "
        'configuration, or pass --rescore "<reason>" to score it again (the reason is recorded).'
    )


def add_registry_arguments(parser: argparse.ArgumentParser, default_hypothesis: str) -> None:
    """--registry_dir, --hypothesis and --rescore for an evidence script."""
    parser.add_argument(
        "--registry_dir", default=str(DEFAULT_REGISTRY_DIR), help="Folder of the registration records."
    )
    parser.add_argument(
        "--hypothesis", default=default_hypothesis, help="What the test scores are meant to show (recorded)."
    )
    parser.add_argument(
        "--rescore",
        metavar="REASON",
        default=None,
        help="Score configurations whose test split was already scored, for this reason (recorded).",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="List the registration records.")
    parser.add_argument("--registry_dir", default=str(DEFAULT_REGISTRY_DIR))
    args = parser.parse_args(argv)
    for path, record in Registry(args.registry_dir).records():
        scored = sum(entry.get("scored_at") is not None for entry in record["units"])
        rescore = f"; re-score: {record['rescore']['reason']}" if record.get("rescore") else ""
        print(
            f"{path.name}: {record['script']} {record['configuration'].get('task', '')} at {record['registered_at']} "
            f"(commit {str(record['git_commit'])[:10]}), {scored}/{len(record['units'])} scored{rescore}"
        )


if __name__ == "__main__":
    main()
