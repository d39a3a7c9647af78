"""Class labels: parse the label-file forms seen in the wild, and read or embed them in a model.

Accepted forms, one class per line:

* plain: ``cat`` (line number = class index);
* ``id label``: ``0 cat`` or ``0  cat`` (Coral's model zoo);
* ``id:label``: ``0:cat`` (some TF Hub files).

The id forms are used only when *every* non-empty line has an id, so a plain label that happens
to start with a number (``7 eleven`` among ``cat``/``dog``) stays plain.

Labels travel inside a ``.tflite`` as a zip archive appended to the flatbuffer, which is how
TFLite metadata stores associated files (Coral and TF Hub models): the interpreter ignores the
trailing bytes and ``zipfile`` reads them.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

from edgecam.errors import LabelsError
from edgecam.files import atomic_write
from edgecam.metadata import build_metadata, with_metadata

log = logging.getLogger(__name__)

_ID_LINE = re.compile(r"^\s*(\d+)\s*[:\s]\s*(\S.*?)\s*$")
#: Ids may skip numbers, by at most this many beyond the labels given (10 per label, and
#: 1000 more): ``1000000000 b`` is a broken file, not a billion classes to allocate.
MAX_SKIPPED_IDS_PER_LABEL = 10
MAX_SKIPPED_IDS = 1000
#: An associated file (labels, model.json) larger than this is not read out of a model's zip.
MAX_ASSOCIATED_BYTES = 8 * 2**20


def parse_labels(text: str, source: str = "labels") -> list[str]:
    """Parse label-file text into a list where list index = class index.

    Args:
        text: the file content.
        source: a name for error messages (usually the file path).

    Raises:
        LabelsError: the text holds no labels, or ids are repeated.
    """
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise LabelsError(f"{source} holds no labels", "put one class name per line")
    matches = [_ID_LINE.match(line) for line in lines]
    if not all(matches):
        return lines
    by_id: dict[int, str] = {}
    for m in matches:
        index = int(m.group(1))
        if index in by_id:
            raise LabelsError(f"{source}: class id {index} appears twice", "give each id once")
        by_id[index] = m.group(2)
    size = max(by_id) + 1
    gaps = size - len(by_id)
    if gaps > MAX_SKIPPED_IDS + MAX_SKIPPED_IDS_PER_LABEL * len(by_id):
        raise LabelsError(
            f"{source}: class id {size - 1} is far beyond its {len(by_id)} labels "
            f"({gaps} ids would have no label)",
            "ids count classes from 0; check the file's numbers",
        )
    # Ids may skip numbers (some zoo files do); the gaps get a visible placeholder.
    return [by_id.get(i, f"class_{i}") for i in range(size)]


def duplicates(labels: list[str]) -> dict[str, list[int]]:
    """Labels that name more than one class: ``{label: [class indices]}``."""
    seen: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        seen.setdefault(label, []).append(i)
    return {label: where for label, where in seen.items() if len(where) > 1}


def read_labels_file(path: str | Path) -> list[str]:
    """Read and parse a labels file.

    Raises:
        LabelsError: the file is missing, unreadable or empty.
    """
    path = Path(path)
    if path.is_dir():
        raise LabelsError(
            f"{path} is a folder, not a labels file",
            "give the text file with one class name per line (e.g. BUNDLE/labels.txt)",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelsError(f"labels file not found: {path}", "check the --labels path") from None
    except OSError as exc:
        raise LabelsError(
            f"cannot read labels file {path}: {exc.strerror}", "check the file's permissions"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LabelsError(
            f"{path} is not a UTF-8 text file", "a labels file has one class name per line"
        ) from None
    return parse_labels(text, str(path))


def _associated(model_path: str | Path, pick) -> tuple[str, str] | None:
    """``(name, text)`` of the associated file ``pick(names)`` chooses, or None.

    The zip is read from a file anyone may have damaged: any failure means "none", with a
    note when there was an archive to read.
    """
    try:
        if not zipfile.is_zipfile(model_path):
            return None
    except Exception:  # unreadable, or an end record it trips over: no archive to speak of
        return None
    try:
        with zipfile.ZipFile(model_path) as archive:
            name = pick(archive.namelist())
            if name is None:
                return None
            if archive.getinfo(name).file_size > MAX_ASSOCIATED_BYTES:
                raise ValueError(f"{name} claims to be larger than {MAX_ASSOCIATED_BYTES} bytes")
            with archive.open(name) as member:
                data = member.read(MAX_ASSOCIATED_BYTES + 1)
            if len(data) > MAX_ASSOCIATED_BYTES:
                raise ValueError(f"{name} is larger than {MAX_ASSOCIATED_BYTES} bytes")
            return name, data.decode("utf-8", errors="replace")
    except Exception as exc:  # zipfile raises many kinds on damaged data (EOFError, zlib.error...)
        log.warning(
            "the files embedded in %s are damaged and were ignored (%s: %s)",
            Path(model_path).name,
            type(exc).__name__,
            exc,
        )
        return None


def read_embedded_labels(model_path: str | Path) -> list[str] | None:
    """Return the labels embedded in a ``.tflite`` (TFLite metadata zip), or None if it has none."""

    def pick(names: list[str]) -> str | None:
        txt = [n for n in names if n.lower().endswith(".txt")]
        # Prefer a file that says it holds labels; TF Hub uses labels.txt or labelmap.txt.
        preferred = [n for n in txt if "label" in n.lower()] or txt
        return preferred[0] if preferred else None

    found = _associated(model_path, pick)
    if found is None:
        return None
    name, text = found
    try:
        return parse_labels(text, f"{model_path} (embedded {name})")
    except LabelsError:
        return None


def read_associated_file(model_path: str | Path, name: str) -> str | None:
    """The text of associated file ``name`` appended to a ``.tflite``, or None."""
    found = _associated(model_path, lambda names: name if name in names else None)
    return found[1] if found is not None else None


def embed_labels(
    model_path: str | Path,
    labels: list[str],
    name: str = "labels.txt",
    extra: dict[str, str] | None = None,
    title: str | None = None,
) -> None:
    """Append ``labels`` (and ``extra`` text files) to a ``.tflite`` as associated files.

    Written atomically; anything embedded before is replaced (the zip is rebuilt from the bare
    flatbuffer). edgecam's exports also embed their ``model.json`` so that the bare file knows
    its own input normalisation.
    """
    model_path = Path(model_path)
    data = _strip_zip(model_path.read_bytes())
    # The TFLITE_METADATA entry that tells metadata readers which file holds the labels.
    try:
        metadata = build_metadata(title or model_path.stem, "Image classifier (edgecam)", name)
        described = with_metadata(data, metadata)
    except ImportError:  # no flatbuffers package (a bare tflite-runtime install): zip only
        described = None
    data = described if described is not None else data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, "\n".join(labels) + "\n")
        for extra_name, text in (extra or {}).items():
            archive.writestr(extra_name, text)
    # Zip offsets are relative to the archive start; zipfile copes with the flatbuffer prefix.
    atomic_write(model_path, lambda tmp: tmp.write_bytes(data + buffer.getvalue()))


def _strip_zip(data: bytes) -> bytes:
    """Return the flatbuffer without its trailing zip archive, if one was appended."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # zipfile rebases header offsets onto the whole file, prefix included.
            offsets = [info.header_offset for info in archive.infolist()]
    except zipfile.BadZipFile:
        return data
    return data[: min(offsets)] if offsets else data
