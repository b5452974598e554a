"""The trained classifier's parameters and their file format: JSON and npz, no pickle.

A model is a folder of two files:

- ``model.json``: ``format`` (``"aftersales-model"``), ``version`` (1), the labels, the
  vocabulary (n-grams in column order), the calibration temperature, the abstention
  threshold, the traditional → simplified table and a summary of the training;
- ``weights.npz``: the arrays (``idf``, ``weights``, ``bias``, ``severity_weights``,
  ``severity_bias``), read with ``allow_pickle=False``.

Loading checks every field, type and shape before anything is used, and bounds the size
of what it reads: each array's ``.npy`` header (its dtype and shape) is read and checked
against the model's fields and against the bytes the archive holds before numpy is asked
to load it, so a header declaring a huge array is refused before any memory is taken for
it. A file that fails raises :class:`~aftersales.exceptions.InvalidInput` naming the field.
Nothing in either file is ever executed.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.ticket import Severity

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = ["FORMAT", "VERSION", "ModelParameters", "load", "save"]

FORMAT = "aftersales-model"
VERSION = 1
JSON_NAME, ARRAYS_NAME = "model.json", "weights.npz"
MAX_JSON_BYTES = 64 * 2**20
MAX_ARRAY_BYTES = 512 * 2**20
"""Bounds on what loading reads: a hostile file declaring a huge array is refused before
any memory is taken for it."""
ARRAYS = ("idf", "weights", "bias", "severity_weights", "severity_bias")


@attrs.frozen(eq=False)
class ModelParameters:
    """Everything a trained model needs to predict; ``weights`` is features x labels."""

    labels: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: FloatArray
    weights: FloatArray
    bias: FloatArray
    temperature: float
    abstain_below: float
    severity_labels: tuple[str, ...]
    severity_weights: FloatArray
    severity_bias: FloatArray
    fold: dict[int, str]
    summary: dict[str, Any] = attrs.field(factory=dict)


def save(parameters: ModelParameters, folder: Path) -> None:
    """Write ``parameters`` into ``folder`` (created if missing)."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "labels": list(parameters.labels),
        "severity_labels": list(parameters.severity_labels),
        "temperature": parameters.temperature,
        "abstain_below": parameters.abstain_below,
        "fold": "".join(chr(key) + value for key, value in sorted(parameters.fold.items())),
        "summary": parameters.summary,
        "vocabulary": list(parameters.vocabulary),
    }
    (folder / JSON_NAME).write_text(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    np.savez_compressed(
        folder / ARRAYS_NAME, **{name: getattr(parameters, name) for name in ARRAYS}
    )


def load(folder: Path) -> ModelParameters:
    """The parameters saved in ``folder``; InvalidInput if anything is missing or wrong."""
    document = _read_json(folder / JSON_NAME)
    errors: list[FieldError] = []
    if document.get("format") != FORMAT:
        _refuse(("format",), f"is not {FORMAT!r}: not a model file of this library")
    version = document.get("version")
    if version != VERSION:
        _refuse(("version",), f"{version!r} is not supported (this library reads {VERSION})")
    labels = _strings(document, "labels", errors)
    severity_labels = _strings(document, "severity_labels", errors)
    vocabulary = _strings(document, "vocabulary", errors)
    temperature = _number(document, "temperature", errors, low=1e-3, high=1e3)
    abstain_below = _number(document, "abstain_below", errors, low=0.0, high=1.0)
    fold = document.get("fold")
    if not isinstance(fold, str) or len(fold) % 2:
        errors.append(FieldError(("fold",), "must be a string of character pairs"))
        fold = ""
    summary = document.get("summary", {})
    if not isinstance(summary, dict):
        errors.append(FieldError(("summary",), "must be an object"))
    if len(labels) < 2 or len(set(labels)) != len(labels):
        errors.append(FieldError(("labels",), "must be two or more different labels"))
    if len(set(vocabulary)) != len(vocabulary):
        errors.append(FieldError(("vocabulary",), "has an n-gram twice"))
    if len(set(severity_labels)) != len(severity_labels):
        errors.append(FieldError(("severity_labels",), "has a label twice"))
    unknown = [s for s in severity_labels if s not in Severity._value2member_map_]
    if unknown:
        known = ", ".join(level.value for level in Severity)
        errors.append(
            FieldError(("severity_labels",), f"{unknown[0]!r} is not a severity ({known})")
        )
    if errors:
        raise InvalidInput("model file", errors)
    features = len(vocabulary)
    arrays = _read_arrays(
        folder / ARRAYS_NAME,
        {
            "idf": (features,),
            "weights": (features, len(labels)),
            "bias": (len(labels),),
            "severity_weights": (features, len(severity_labels)),
            "severity_bias": (len(severity_labels),),
        },
    )
    return ModelParameters(
        labels=labels,
        vocabulary=vocabulary,
        idf=arrays["idf"],
        weights=arrays["weights"],
        bias=arrays["bias"],
        temperature=temperature,
        abstain_below=abstain_below,
        severity_labels=severity_labels,
        severity_weights=arrays["severity_weights"],
        severity_bias=arrays["severity_bias"],
        fold={ord(fold[i]): fold[i + 1] for i in range(0, len(fold), 2)},
        summary=summary,
    )


def _refuse(location: tuple[str, ...], message: str) -> None:
    raise InvalidInput("model file", [FieldError(location, message)])


def _read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            _refuse((JSON_NAME,), f"is larger than {MAX_JSON_BYTES} bytes")
        with path.open("rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            "model file", [FieldError((JSON_NAME,), f"not found in {path.parent}", "missing")]
        ) from None
    except OSError as error:
        raise InvalidInput("model file", [FieldError((JSON_NAME,), str(error))]) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InvalidInput(
            "model file", [FieldError((JSON_NAME,), f"is not JSON: {error}")]
        ) from None
    if not isinstance(document, dict):
        _refuse((JSON_NAME,), "must hold a JSON object")
    checked: dict[str, Any] = document
    return checked


def _strings(document: dict[str, Any], name: str, errors: list[FieldError]) -> tuple[str, ...]:
    value = document.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors.append(FieldError((name,), "must be a list of strings"))
        return ()
    return tuple(value)


def _number(
    document: dict[str, Any], name: str, errors: list[FieldError], *, low: float, high: float
) -> float:
    value = document.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        errors.append(FieldError((name,), f"must be a number from {low} to {high}"))
        return 1.0
    return float(value)


def _read_arrays(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, FloatArray]:
    """The arrays of the npz at ``path``, each of the shape ``shapes`` gives it."""
    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            if sum(info.file_size for info in members.values()) > MAX_ARRAY_BYTES:
                _refuse((ARRAYS_NAME,), f"holds more than {MAX_ARRAY_BYTES} bytes")
            missing = [name for name in ARRAYS if f"{name}.npy" not in members]
            if missing:
                _refuse((ARRAYS_NAME,), f"lacks the arrays {', '.join(missing)}")
            errors = [
                error
                for name in ARRAYS
                for error in _check_header(archive, members[f"{name}.npy"], name, shapes[name])
            ]
            if errors:
                raise InvalidInput("model file", errors)
    except FileNotFoundError:
        raise InvalidInput(
            "model file", [FieldError((ARRAYS_NAME,), f"not found in {path.parent}", "missing")]
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as error:
        # zlib.error: corrupt compressed data; NotImplementedError: an unknown compression
        raise InvalidInput(
            "model file", [FieldError((ARRAYS_NAME,), f"is not an npz archive: {error}")]
        ) from None
    arrays: dict[str, FloatArray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in ARRAYS:
                array = archive[name]
                if not np.all(np.isfinite(array)):
                    _refuse((name,), "holds a value that is not a finite number")
                arrays[name] = np.ascontiguousarray(array, dtype=np.float64)
    except InvalidInput:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        # numpy raises ValueError for an array that would need pickle to read
        raise InvalidInput(
            "model file", [FieldError((ARRAYS_NAME,), f"cannot be read: {error}")]
        ) from None
    return arrays


def _check_header(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, shape: tuple[int, ...]
) -> list[FieldError]:
    """What is wrong with the ``.npy`` header of ``member``: numpy allocates the shape a
    header declares before it reads the data, so the shape must be the model's and the
    data must be exactly as long as the shape says."""
    import numpy as np

    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    try:
        with archive.open(member) as handle:
            version = np.lib.format.read_magic(handle)
            if version not in readers:
                return [FieldError((name,), f"has an npy header of version {version}")]
            declared, _, dtype = readers[version](handle)
            data_bytes = member.file_size - handle.tell()
    except (ValueError, TypeError, SyntaxError) as error:
        # read_magic and the header readers raise ValueError for a malformed header
        return [FieldError((name,), f"has an unreadable npy header: {error}")]
    if dtype.kind != "f":
        return [FieldError((name,), f"must hold floating-point numbers, not {dtype}")]
    if tuple(declared) != shape:
        return [FieldError((name,), f"has shape {tuple(declared)}, the model needs {shape}")]
    if math.prod(shape) * dtype.itemsize != data_bytes:
        return [
            FieldError(
                (name,),
                f"declares {math.prod(shape) * dtype.itemsize} bytes of data but holds "
                f"{data_bytes}",
            )
        ]
    return []
