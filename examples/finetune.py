#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune an AaSP checkpoint (or any AutoModelForAudioClassification) on a task with transformers' Trainer.

    python examples/finetune.py --model_name_or_path <ckpt> --task esc50 --fold 3 --output_dir out/esc50-f3
    python examples/finetune.py --model_name_or_path <ckpt> --task esc50 --all_folds --output_dir out/esc50
    python examples/finetune.py --model_name_or_path <ckpt> --dataset_name <hub id or path> \
        --audio_column audio --label_column label --output_dir out/custom
    python examples/finetune.py --config run.yaml          # any option from a YAML file; flags override it

`--dataset_name` also takes a folder of your own clips: `<class>/*.wav`; `train/` + `test/` [+ `validation/`] with
class folders; or a `metadata.csv` with columns `file_name`, a label (--label_column) and `split` or a fold column
(--fold_column). Without a test split `--train_test_split` (0.2) of every class is held out as test, and without a
validation split `--train_val_split` (0.1) of train; the clip length comes from the clips unless --clip_seconds.
`--do_train` / `--do_eval` choose the steps (neither: both). An --output_dir holding an earlier run is refused unless
`--resume_from_checkpoint latest` (or a checkpoint path) continues it or `--overwrite_output_dir` starts over;
`--push_to_hub --hub_model_id org/name` publishes through the Trainer. Each run
writes `results.json`, the Trainer's metrics and state, the model, its feature extractor and a model card
(README.md); `--all_folds` runs every fold in `<output_dir>/fold_<k>` and writes the mean and spread to
`all_results.json`. The recipe lives in `transformers_aasp.training.finetuning`; see docs/downstream.md.
"""

from transformers import TrainingArguments
from transformers.utils import logging

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes)
from transformers_aasp.training.arguments import (
    parse_arguments,
    run_main,
    setup_logging,
    task_from_arguments,
    training_log_level,
)
from transformers_aasp.training.finetuning import (
    FINE_TUNING_DEFAULTS,
    FineTuningDataArguments,
    FineTuningModelArguments,
    OutputFolderArguments,
    RecipeArguments,
    RunSteps,
    check_output_folder,
    check_run_options,
    fine_tune,
    finetuned_model_card,
    folds_to_run,
    publish,
    summarize_runs,
    summary_line,
    write_outputs,
)
from transformers_aasp.training.locking import hold_output_dir


logger = logging.get_logger("transformers_aasp.examples.finetune")


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns the summary written to results.json."""
    model_args, data_args, recipe, output_folder, training_args = parse_arguments(
        (FineTuningModelArguments, FineTuningDataArguments, RecipeArguments, OutputFolderArguments, TrainingArguments),
        argv,
        defaults=FINE_TUNING_DEFAULTS,
    )
    setup_logging(training_log_level(training_args), training_args.should_log)
    check_run_options(data_args, training_args)
    if training_args.process_index == 0:
        hold_output_dir(training_args.output_dir)  # one run per folder, until this process exits
    steps = RunSteps.from_training_arguments(training_args)
    # the output-folder lock belongs here: held from before the folder is checked until the run ends
    check_output_folder(training_args, output_folder.overwrite_output_dir, steps)

    task = task_from_arguments(data_args)
    folds = folds_to_run(task, data_args.fold, data_args.all_folds)
    runs = [fine_tune(task, fold, model_args, data_args, recipe, training_args, steps) for fold in folds]

    summary = summarize_runs(runs, task)
    card = finetuned_model_card(summary, task, model_args, data_args, recipe, training_args)
    write_outputs(summary, card, data_args, training_args)
    if training_args.push_to_hub:
        publish(runs[0], card)
    logger.info(summary_line(summary, task))
    return summary


if __name__ == "__main__":
    run_main(main)
