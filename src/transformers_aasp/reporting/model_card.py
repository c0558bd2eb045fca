# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Model cards for AaSP checkpoints, rendered from the templates in `reporting/templates/` with `huggingface_hub`.

`pretrained_card` describes a self-supervised encoder (no pipeline_tag: transformers' `feature-extraction` pipeline
is for text and fails on audio; the card shows `AutoModel`), `finetuned_card` a classifier (`audio-classification`,
with `base_model`), AaSP or of another model type (then without the AaSP description, tags and citation). Both write
`library_name: transformers` and a `model-index` holding only the numbers the training script measured and passed
in. Only valid Hub dataset ids go into the `datasets:` metadata, and no local path reaches a card: a local file or
folder is shown by its name only. Without a `repo_id`, the loading snippets use `REPO_ID_PLACEHOLDER` and say so.
The weights' license is derived from the data's (`weights_license`): data for non-commercial use only (ESC-50,
UrbanSound8K) or under unknown terms never yields Apache-2.0 weights.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id


TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"  # package data: shipped in the wheel
PRETRAINED_TEMPLATE = "pretrained.md"
FINETUNED_TEMPLATE = "finetuned.md"

CITATION = """@article{yamamoto2025aasp,
  title   = {AaSP: Aliasing-aware Self-Supervised Pre-Training for Audio Spectrogram Transformers},
  author  = {Yamamoto, Kohei and Okusa, Kosuke},
  journal = {arXiv preprint arXiv:2512.03637},
  year    = {2025}
}"""
COMMON_TAGS = ["audio", "aasp", "audio-spectrogram-transformer", "transformers_aasp"]
AASP_MODEL_TYPE = "aasp"
# What the loading snippets name when the card does not know the repo (the folder was not pushed with a repo id).
REPO_ID_PLACEHOLDER = "<hub-user>/<model-name>"

# Metric ids on the Hub and how they are shown.
METRIC_TYPES = {"accuracy": "accuracy", "mAP": "mean_average_precision"}
METRIC_DISPLAY_NAMES = {"accuracy": "Accuracy", "mAP": "mAP"}


# ---- Training data and the weights' license ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DataLicense:
    """The license of a dataset: the Hub's license id, a readable name with any caveat, the license text's url, and
    whether its terms allow commercial use (None: unclear)."""

    license_id: str
    name: str
    url: str | None
    commercial_use: bool | None


KNOWN_LICENSES = {
    license.license_id: license
    for license in (
        DataLicense("cc-by-4.0", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/", True),
        DataLicense("cc-by-3.0", "CC BY 3.0", "https://creativecommons.org/licenses/by/3.0/", True),
        DataLicense("cc0-1.0", "CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/", True),
        DataLicense("cc-by-nc-3.0", "CC BY-NC 3.0", "https://creativecommons.org/licenses/by-nc/3.0/", False),
        DataLicense("cc-by-nc-4.0", "CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/", False),
        DataLicense("cc-by-nc-sa-4.0", "CC BY-NC-SA 4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/", False),
        DataLicense("odbl", "ODbL 1.0", "https://opendatacommons.org/licenses/odbl/1-0/", True),
        DataLicense("apache-2.0", "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0", True),
        DataLicense("mit", "MIT", "https://opensource.org/license/mit", True),
    )
}

# The license of every registered benchmark's Hub dataset, as its dataset card or its original release states it.
DATASET_LICENSES = {
    # ESC-50 (K. Piczak): "Creative Commons Attribution Non-Commercial", the LICENSE of its release is CC BY-NC 3.0.
    "ashraq/esc50": KNOWN_LICENSES["cc-by-nc-3.0"],
    # UrbanSound8K (Salamon et al.): released under CC BY-NC 3.0.
    "danavery/urbansound8K": KNOWN_LICENSES["cc-by-nc-3.0"],
    # Speech Commands (Warden, 2018): CC BY 4.0.
    "danjacobellis/speech_commands_v2": KNOWN_LICENSES["cc-by-4.0"],
    # NSynth (Engel et al., 2017): CC BY 4.0.
    "jg583/NSynth": KNOWN_LICENSES["cc-by-4.0"],
    # CREMA-D (Cao et al., 2014): Open Database License 1.0, contents under the Database Contents License 1.0.
    "AbstractTTS/CREMA-D": DataLicense(
        "odbl", "ODbL 1.0 (contents: DbCL 1.0)", "https://opendatacommons.org/licenses/odbl/1-0/", True
    ),
    # AudioSet: the dataset card says CC BY 4.0, which covers Google's labels; the audio is cut from YouTube videos.
    "agkphysics/AudioSet": DataLicense(
        "cc-by-4.0",
        "CC BY 4.0 for the labels; the audio of every clip remains under its YouTube uploader's terms",
        "https://creativecommons.org/licenses/by/4.0/",
        None,
    ),
}


def is_local_path(text: str) -> bool:
    """True for an absolute path, or a relative one (with a separator) that exists here: never put into a card."""
    return os.path.isabs(os.path.expanduser(text)) or (os.sep in text and Path(text).exists())


def without_local_paths(value):
    """`value` with every local path (`is_local_path`) in it, or in its list / tuple items, cut to its last name."""
    if isinstance(value, (str, os.PathLike)) and is_local_path(os.fspath(value)):
        return Path(os.fspath(value)).name
    if isinstance(value, (list, tuple)):
        return type(value)(without_local_paths(item) for item in value)
    return value


def hub_dataset_id(text: str | None) -> str | None:
    """`text` if it is a valid Hub dataset id of the form "namespace/name" and not a local path, else None."""
    if not text or "/" not in text or Path(text).exists():
        return None
    try:
        validate_repo_id(text)
    except HFValidationError:
        return None
    return text


@dataclass(frozen=True)
class TrainingDataset:
    """A dataset a checkpoint was trained on, as the card cites it.

    `dataset_id` is a Hub dataset id, a local path, or None (data built in code, e.g. the embedded corpus);
    `license` a Hub license id, a `DataLicense`, or None to look the Hub id up in `DATASET_LICENSES`.
    """

    dataset_id: str | None
    name: str | None = None
    config: str | None = None
    revision: str | None = None
    license: str | DataLicense | None = None

    @classmethod
    def from_description(cls, text: str) -> "TrainingDataset":
        """A description such as "agkphysics/AudioSet (unbalanced)": a leading Hub id is the dataset id."""
        first = text.split()[0] if text.split() else ""
        return cls(dataset_id=hub_dataset_id(first), name=text)

    @property
    def hub_id(self) -> str | None:
        return hub_dataset_id(self.dataset_id)

    @property
    def display_name(self) -> str:
        return without_local_paths(self.name or self.dataset_id or "unnamed data")

    @property
    def data_license(self) -> DataLicense | None:
        if isinstance(self.license, DataLicense):
            return self.license
        if isinstance(self.license, str):
            return KNOWN_LICENSES.get(self.license, DataLicense(self.license, self.license, None, None))
        return DATASET_LICENSES.get(self.hub_id) if self.hub_id else None

    def describe_license(self) -> str:
        data_license = self.data_license
        if data_license is None:
            return f"{self.display_name}: license not recorded"
        link = f"[{data_license.name}]({data_license.url})" if data_license.url else data_license.name
        return f"{self.display_name}: {link}"


@dataclass(frozen=True)
class WeightsLicense:
    """What the card says about the weights' license: metadata fields and a statement for the card body."""

    license: str
    statement: str
    license_name: str | None = None
    license_link: str | None = None

    def metadata(self) -> dict:
        extra = {"license_name": self.license_name, "license_link": self.license_link}
        return {"license": self.license, **{key: value for key, value in extra.items() if value is not None}}


def weights_license(training_data: list[TrainingDataset]) -> WeightsLicense:
    """The license of weights trained on `training_data`, derived from the data's licenses.

    * any dataset for non-commercial use only -> `other` ("non-commercial-training-data", linked to its license);
    * any dataset whose terms are unknown or unclear -> `other` ("training-data-terms");
    * otherwise (every dataset allows commercial use) -> `apache-2.0`, with the data's attribution terms stated.
    """
    licenses = [dataset.data_license for dataset in training_data]
    terms = "; ".join(dataset.describe_license() for dataset in training_data)
    non_commercial = [lic for lic in licenses if lic is not None and lic.commercial_use is False]
    if non_commercial:
        return WeightsLicense(
            license="other",
            license_name="non-commercial-training-data",
            license_link=non_commercial[0].url,
            statement=(
                f"These weights were trained on data licensed for non-commercial use only ({terms}). The Apache-2.0 "
                "license of the transformers_aasp code does not extend to them: use them for non-commercial "
                "purposes only, crediting the data as its license requires."
            ),
        )
    if any(lic is None or lic.commercial_use is None for lic in licenses):
        known = [lic for lic in licenses if lic is not None and lic.url]
        return WeightsLicense(
            license="other",
            license_name="training-data-terms",
            license_link=known[0].url if known else None,
            statement=(
                f"The terms of the training data decide how these weights may be used ({terms}). They are not "
                "covered by the Apache-2.0 license of the transformers_aasp code: check the data's terms before any "
                "use beyond research."
            ),
        )
    return WeightsLicense(
        license="apache-2.0",
        statement=(
            f"The weights are released under Apache-2.0. The training data allows this and asks for credit: {terms}."
        ),
    )


@dataclass
class ReportedResult:
    """One measured score for the card table and the `model-index`."""

    dataset_id: str  # Hub dataset id (or local path)
    dataset_name: str  # readable name, e.g. "ESC-50"
    metric: str  # "accuracy" or "mAP"
    value: float  # a fraction in [0, 1]; a mean when several runs or folds were averaged
    split: str = "test"  # or e.g. "5-fold CV"
    protocol: str = "fine-tuning"  # how it was measured, e.g. "linear evaluation, 3 seeds"
    spread: float | None = None  # a 95 % interval half-width or standard deviation, shown as ± in the table
    dataset_config: str | None = None
    dataset_revision: str | None = None

    def __post_init__(self):
        if self.metric not in METRIC_TYPES:
            raise ValueError(f"Unknown metric {self.metric!r}; expected one of {sorted(METRIC_TYPES)}.")

    @property
    def metric_name(self) -> str:
        return METRIC_DISPLAY_NAMES[self.metric]

    @property
    def display_value(self) -> str:
        text = f"{100 * self.value:.2f}"
        return text if self.spread is None else f"{text} ± {100 * self.spread:.2f}"

    def to_eval_result(self, task_type: str) -> EvalResult:
        return EvalResult(
            task_type=task_type,
            dataset_type=self.dataset_id,
            dataset_name=self.dataset_name,
            dataset_config=self.dataset_config,
            dataset_revision=self.dataset_revision,
            dataset_split=self.split,
            metric_type=METRIC_TYPES[self.metric],
            metric_name=f"{self.metric_name} ({self.protocol})",
            metric_value=round(float(self.value), 6),
        )


def _template(template_path: str | os.PathLike | None, default_name: str) -> Path:
    path = Path(template_path) if template_path is not None else TEMPLATE_DIR / default_name
    if not path.is_file():
        raise FileNotFoundError(f"Model card template {path} not found (pass `template_path=` an existing file).")
    return path


def _stringify(training_args: dict) -> dict[str, str]:
    return {str(key): str(without_local_paths(value)) for key, value in training_args.items() if value is not None}


def _license(datasets: list[TrainingDataset], license: str | None) -> WeightsLicense:
    """The derived `weights_license`, or the caller's explicit license id with the data's terms stated."""
    if license is None:
        return weights_license(datasets)
    terms = "; ".join(dataset.describe_license() for dataset in datasets)
    return WeightsLicense(license=license, statement=f"Released under {license}. Training data: {terms}.")


def _card_data(
    model_name: str, results: list[ReportedResult], weights: WeightsLicense, datasets: list[TrainingDataset], **fields
) -> ModelCardData:
    """The card metadata both kinds share; the `model-index` is written only when there are results."""
    return ModelCardData(
        model_name=model_name if results else None,
        library_name="transformers",
        datasets=list(dict.fromkeys(dataset.hub_id for dataset in datasets if dataset.hub_id is not None)) or None,
        metrics=sorted({METRIC_TYPES[r.metric] for r in results}) or None,
        eval_results=[r.to_eval_result("audio-classification") for r in results] or None,
        **weights.metadata(),
        **fields,
    )


def pretrained_card(
    *,
    model_name: str,
    pretraining_datasets: list[str | TrainingDataset],
    training_args: dict,
    metrics: dict | None = None,
    results: list[ReportedResult] | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """Card of a pre-trained (self-supervised) AaSP encoder, titled `model_name`.

    `pretraining_datasets` are `TrainingDataset`s or descriptions; a description that starts with a Hub id
    ("agkphysics/AudioSet (unbalanced)") puts that id, and only it, into `datasets:`. `training_args` fill the
    "Training procedure" table, `metrics` (e.g. `{"loss": 0.41}`) their own, and the downstream `results` (e.g. linear
    evaluation) the results table and the `model-index`. `repo_id` goes into the loading snippet (default:
    `REPO_ID_PLACEHOLDER`, which the card explains); `license` defaults to the data's (`weights_license`).
    """
    if not pretraining_datasets:
        raise ValueError("`pretraining_datasets` must name at least one dataset.")
    datasets = [
        d if isinstance(d, TrainingDataset) else TrainingDataset.from_description(str(d)) for d in pretraining_datasets
    ]
    weights = _license(datasets, license)
    results = list(results or [])
    card_data = _card_data(model_name, results, weights, datasets, tags=[*COMMON_TAGS, "self-supervised-learning"])
    return ModelCard.from_template(
        card_data,
        template_path=str(_template(template_path, PRETRAINED_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id or REPO_ID_PLACEHOLDER,
        repo_id_placeholder=REPO_ID_PLACEHOLDER if not repo_id else None,
        pretraining_datasets=datasets,
        training_args=_stringify(training_args),
        training_metrics={str(k): v for k, v in (metrics or {}).items()},
        results=results,
        license_statement=weights.statement,
        citation=CITATION,
    )


def finetuned_card(
    *,
    model_name: str,
    base_model: str | None,
    training_data: TrainingDataset,
    label_names: list[str],
    multi_label: bool,
    results: list[ReportedResult],
    training_args: dict,
    protocol: str,
    clip_seconds: float,
    fold_scores: dict | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    template_path: str | os.PathLike | None = None,
    model_type: str = AASP_MODEL_TYPE,
) -> ModelCard:
    """Card of a fine-tuned audio classifier: AaSP, or another `model_type` fine-tuned by the same recipe (its card
    has no AaSP description, tags, package import or citation).

    `base_model` (the checkpoint that was fine-tuned) goes into `base_model:` when it is a Hub id, `training_data`'s
    Hub id into `datasets:` (its license decides the weights', unless `license` is given). `results` fill the table
    and the `model-index` (empty when the test split was not scored); `protocol` says how train and test were split
    (e.g. "5-fold CV, fold 3 held out"), `clip_seconds` the training clip length, `fold_scores` the `{fold: score}`
    of a cross-validation run. `repo_id` goes into the loading snippets (default: `REPO_ID_PLACEHOLDER`).
    """
    is_local = base_model is not None and (is_local_path(base_model) or Path(base_model).exists())
    hub_base_model = base_model if base_model and not is_local else None
    is_aasp = model_type == AASP_MODEL_TYPE
    weights = _license([training_data], license)
    label_tag = "multi-label" if multi_label else "single-label"
    card_data = _card_data(
        model_name,
        results,
        weights,
        [training_data],
        pipeline_tag="audio-classification",
        tags=[*COMMON_TAGS, label_tag] if is_aasp else ["audio", "audio-classification", model_type, label_tag],
        base_model=hub_base_model,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(_template(template_path, FINETUNED_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id or REPO_ID_PLACEHOLDER,
        repo_id_placeholder=REPO_ID_PLACEHOLDER if not repo_id else None,
        is_aasp=is_aasp,
        model_type=model_type,
        base_model=hub_base_model,
        task_description=f"{'multi-label tagging' if multi_label else 'classification'} on {training_data.display_name}",
        problem_description="Multi-label tagging" if multi_label else "Single-label classification",
        num_labels=len(label_names),
        example_labels=", ".join(label_names[:3]),
        dataset=training_data,
        clip_seconds=clip_seconds,
        clip_seconds_int=max(1, round(clip_seconds)),
        protocol=protocol,
        training_args=_stringify(training_args),
        results=results,
        fold_scores=fold_scores,
        license_statement=weights.statement,
        citation=CITATION if is_aasp else None,
    )
