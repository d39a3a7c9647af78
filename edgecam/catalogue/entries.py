"""The model catalogue: its entries, read and checked from JSON files.

The package carries one file, ``catalogue.json``; ``$EDGECAM_CATALOGUE`` replaces it (tests
point it at a catalogue of tiny models on a local server) and ``<models home>/catalogue.json``
adds entries or overrides the package's by name, so a user adds models without touching the
package (docs/USAGE.md, "Models").

A file is ``{"format_version": 1, "entries": [ENTRY, ...]}``; an entry::

    {"name": "birds", "kind": "classifier", "task": "iNaturalist birds",
     "description": "...", "url": "https://...", "size": 3579500, "sha256": "350f...",
     "license": "Apache-2.0", "labels": "embedded", "classes": 965, "input": "224x224x3 uint8",
     "edgetpu": "birds-edgetpu"}

``labels`` is ``"embedded"`` (in the model's metadata zip), ``"none"`` (an embedder) or
``{"url": ..., "size": ..., "sha256": ...}`` for a separate labels file. ``classes``,
``input``, ``description``, ``license`` and ``edgetpu`` may be left out.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecam import defaults
from edgecam.errors import EdgecamError

FORMAT_VERSION = 1
#: Replaces the package's catalogue file (tests, or a deployment's own list).
CATALOGUE_ENV = "EDGECAM_CATALOGUE"
#: The user's own entries, in the models home.
USER_FILE = "catalogue.json"
KINDS = ("classifier", "embedder")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL_SCHEMES = ("https://", "http://", "file://")
#: A catalogue file larger than this is not read: the package's is a few KB.
MAX_FILE_BYTES = 2**20


class CatalogueError(EdgecamError):
    """A catalogue file that cannot be used, or a name that is not in the catalogue."""


@dataclass(frozen=True)
class LabelsRef:
    """A labels file downloaded beside the model."""

    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Entry:
    """One model the catalogue offers."""

    name: str
    kind: str  # classifier | embedder
    task: str
    url: str
    size: int  # bytes
    sha256: str
    description: str = ""
    license: str = ""
    labels: LabelsRef | None = None  # None: embedded in the .tflite, or none (an embedder)
    classes: int | None = None
    input: str = ""  # e.g. "224x224x3 uint8"
    edgetpu: str | None = None  # the Edge TPU twin's entry name
    cpu: str | None = None  # for an Edge TPU twin: the entry it was compiled from
    origin: str = ""  # the file the entry came from

    @property
    def file_name(self) -> str:
        """The file's name in its URL (``mobilenet_v2_1.0_224_quant.tflite``)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        """The entry as ``models list --json`` shows it (and as a catalogue file holds it)."""
        labels: Any = "embedded" if self.kind == "classifier" else "none"
        if self.labels is not None:
            labels = {
                "url": self.labels.url,
                "size": self.labels.size,
                "sha256": self.labels.sha256,
            }
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "description": self.description,
            "classes": self.classes,
            "input": self.input,
            "size": self.size,
            "sha256": self.sha256,
            "url": self.url,
            "license": self.license,
            "labels": labels,
            "edgetpu": self.edgetpu,
            "cpu": self.cpu,
        }


@dataclass(frozen=True)
class Catalogue:
    """The entries, in file order (the package's, then the user's new ones)."""

    entries: list[Entry]
    files: tuple[Path, ...] = ()

    def find(self, name: str) -> Entry | None:
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    def get(self, name: str) -> Entry:
        """The entry called ``name``.

        Raises:
            CatalogueError: no such entry (the message lists close matches).
        """
        entry = self.find(name)
        if entry is None:
            raise CatalogueError(f"no model called '{name}' in the catalogue", self.hint(name))
        return entry

    def close_matches(self, text: str, n: int = 4) -> list[str]:
        """Names like ``text``: those containing it first, then the most similar."""
        import difflib

        names = [e.name for e in self.entries]
        needle = text.lower()
        found = [name for name in names if needle and needle in name]
        for name in difflib.get_close_matches(needle, names, n=n, cutoff=0.5):
            if name not in found:
                found.append(name)
        return found[:n]

    def hint(self, text: str) -> str:
        matches = self.close_matches(text)
        if matches:
            return f"did you mean {', '.join(matches)}? (`edgecam models list` shows them all)"
        return "`edgecam models list` shows the catalogue"


def package_file() -> Path:
    """The catalogue the package carries (or ``$EDGECAM_CATALOGUE``)."""
    configured = os.environ.get(CATALOGUE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parent / "catalogue.json"


def user_file() -> Path:
    """Where a user's own entries go: ``catalogue.json`` in the models home."""
    return defaults.cache_home() / USER_FILE


def load_catalogue(path: Path | None = None, user: Path | None = None) -> Catalogue:
    """The package's (or ``path``'s) entries, with the user file's added or overriding.

    Raises:
        CatalogueError: a file is unreadable, not JSON, or holds a bad entry (named).
    """
    main = path or package_file()
    user = user or user_file()
    entries = {e.name: e for e in read_file(main)}
    files = [main]
    if user.is_file() and user.resolve() != main.resolve():
        for entry in read_file(user):
            entries[entry.name] = entry  # a user entry of the same name wins
        files.append(user)
    listed = list(entries.values())
    return Catalogue(_link_twins(listed), tuple(files))


def read_file(path: Path) -> list[Entry]:
    """The entries of one catalogue file, each checked.

    Raises:
        CatalogueError: unreadable, not JSON, an unknown format_version or a bad entry.
    """
    fix = f"fix {path} (docs/USAGE.md, 'Models', shows the format)"
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CatalogueError(f"{path} is too large for a catalogue", fix)
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(
            f"catalogue file not found: {path}", f"check ${CATALOGUE_ENV}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}", fix) from None
    except json.JSONDecodeError as exc:
        raise CatalogueError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})", fix
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise CatalogueError(f'{path} must hold {{"format_version": 1, "entries": [...]}}', fix)
    if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise CatalogueError(
            f"{path}: format_version {data.get('format_version')!r} is not supported",
            "upgrade edgecam, or write format_version 1",
        )
    entries: list[Entry] = []
    seen: set[str] = set()
    for i, item in enumerate(data["entries"]):
        entry = _entry(item, f"{path}: entry {i + 1}", str(path))
        if entry.name in seen:
            raise CatalogueError(f"{path}: '{entry.name}' is listed twice", fix)
        seen.add(entry.name)
        entries.append(entry)
    return entries


def _entry(item: Any, where: str, origin: str) -> Entry:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where} must be a JSON object", "see docs/USAGE.md, 'Models'")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogueError(
            f"{where}: name {name!r} must be lower-case letters, digits, '.', '_' or '-'",
            "name it for people, e.g. my-birds",
        )
    where = f"{where} ({name})"

    def bad(field: str, what: str) -> CatalogueError:
        return CatalogueError(f"{where}: {field} must be {what}, not {item.get(field)!r}")

    kind = item.get("kind", "classifier")
    if kind not in KINDS:
        raise bad("kind", "classifier or embedder")
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
        raise bad("url", "an https://, http:// or file:// URL")
    size, sha = _size(item.get("size")), _sha(item.get("sha256"))
    if size is None:
        raise bad("size", "the file's size in bytes")
    if sha is None:
        raise bad("sha256", "the file's SHA-256 (64 hex digits)")
    for field in ("task", "description", "license", "input"):
        if not isinstance(item.get(field, ""), str):
            raise bad(field, "a string")
    classes = item.get("classes")
    if classes is not None and _size(classes) is None:
        raise bad("classes", "a positive whole number")
    edgetpu = item.get("edgetpu")
    if edgetpu is not None and (not isinstance(edgetpu, str) or not _NAME.match(edgetpu)):
        raise bad("edgetpu", "another entry's name")
    return Entry(
        name=name,
        kind=kind,
        task=item.get("task", ""),
        url=url,
        size=size,
        sha256=sha,
        description=item.get("description", ""),
        license=item.get("license", ""),
        labels=_labels(item.get("labels", "embedded"), kind, where),
        classes=classes,
        input=item.get("input", ""),
        edgetpu=edgetpu,
        origin=origin,
    )


def _size(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else None


def _sha(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _SHA256.match(value.lower()) else None


def _labels(value: Any, kind: str, where: str) -> LabelsRef | None:
    if value in ("embedded", "none", None):
        return None
    if isinstance(value, dict):
        url, size, sha = value.get("url"), _size(value.get("size")), _sha(value.get("sha256"))
        if isinstance(url, str) and url.startswith(_URL_SCHEMES) and size and sha:
            return LabelsRef(url, sha, size)
    raise CatalogueError(
        f'{where}: labels must be "embedded", "none" or '
        f'{{"url": ..., "size": ..., "sha256": ...}}, not {value!r}',
        "see docs/USAGE.md, 'Models'",
    )


def _link_twins(entries: list[Entry]) -> list[Entry]:
    """Check each ``edgetpu`` names an entry, and give each twin its ``cpu`` back-link."""
    from dataclasses import replace

    names = {e.name: e for e in entries}
    cpu_of: dict[str, str] = {}
    for entry in entries:
        if entry.edgetpu is None:
            continue
        if entry.edgetpu not in names or entry.edgetpu == entry.name:
            raise CatalogueError(
                f"{entry.origin}: {entry.name}'s edgetpu twin '{entry.edgetpu}' is not an entry",
                "add the twin's entry, or leave edgetpu out",
            )
        cpu_of[entry.edgetpu] = entry.name
    return [replace(e, cpu=cpu_of[e.name]) if e.name in cpu_of else e for e in entries]
