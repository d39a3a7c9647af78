"""``edgecam models``: list, pull, rm and where; and ``--model NAME`` for the other commands.

:func:`add_arguments` builds the parser under ``edgecam models``; :func:`run` runs it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgecam.catalogue.download import DownloadCancelled
from edgecam.catalogue.entries import Catalogue, CatalogueError, Entry, load_catalogue, user_file
from edgecam.catalogue.progress import TerminalProgress, megabytes
from edgecam.catalogue.resolve import resolve_model, what_to_pull
from edgecam.catalogue.store import ModelStore, models_home


def add_arguments(p: argparse.ArgumentParser, flags: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=text, description=text, parents=[flags])

    a = action("list", "the catalogue: name, task, classes, input, size, SHA-256, downloaded")
    a.add_argument("--json", action="store_true", help="one JSON document")
    a = action("pull", "download models (resumes a cut download; checks each SHA-256)")
    a.add_argument("names", nargs="+", metavar="NAME")
    a.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="FILE",
        help="install NAME from a copy of its file (no internet needed; the SHA-256 is checked)",
    )
    a = action("rm", "delete downloaded models (and any download in progress)")
    a.add_argument("names", nargs="+", metavar="NAME")
    a = action("where", "the folder models are kept in (or NAME's folder)")
    a.add_argument("name", nargs="?", metavar="NAME")


def run(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    store = ModelStore(catalogue=catalogue)
    if args.action == "list":
        return _list(catalogue, store, args.json)
    if args.action == "where":
        print(store.path(catalogue.get(args.name)) if args.name else store.root)
        return 0
    entries = [catalogue.get(name) for name in args.names]  # every name checked first
    if args.action == "pull":
        if args.source is not None and len(entries) != 1:
            raise CatalogueError("--from gives the file of one model", "name one model with it")
        for entry in entries:
            _pull(entry, store, args.source)
        return 0
    for entry in entries:
        if store.remove(entry):
            print(f"removed {entry.name} ({store.path(entry)})")
        else:
            print(f"{entry.name} is not downloaded: nothing to remove")
    return 0


def _pull(entry: Entry, store: ModelStore, source: Path | None = None) -> Path:
    if store.is_downloaded(entry):
        print(f"{entry.name}: already downloaded in {store.path(entry)}")
        return store.path(entry)
    where = f"from {source}" if source else what_to_pull(entry, store)
    print(f"pulling {entry.name} ({where})", flush=True)
    bar = TerminalProgress(entry.name)
    try:
        folder = store.pull(entry, progress=bar, source=source)
    except KeyboardInterrupt:
        raise DownloadCancelled(
            f"download of {entry.name} interrupted", "pull it again: it resumes where it stopped"
        ) from None
    finally:
        bar.close()
    print(f"{entry.name}: SHA-256 checked, installed in {folder}", flush=True)
    return folder


def _list(catalogue: Catalogue, store: ModelStore, as_json: bool) -> int:
    rows = []
    for entry in catalogue.entries:
        spec = store.installed_spec(entry)
        record = (spec or {}).get("catalogue", {})
        classes = entry.classes or record.get("embedded_labels")
        rows.append(
            {
                **entry.to_json(),
                "classes": classes if entry.kind == "classifier" else None,
                "input": _measured_input(spec) or entry.input,
                "downloaded": spec is not None,
                "path": str(store.path(entry)),
            }
        )
    if as_json:
        doc = {
            "models_home": str(models_home()),
            "catalogue_files": [str(f) for f in catalogue.files],
            "user_catalogue": str(user_file()),
            "models": rows,
        }
        print(json.dumps(doc, indent=2))
        return 0
    header = ("NAME", "TASK", "CLASSES", "INPUT", "SIZE", "SHA-256", "HERE", "EDGE TPU TWIN")
    table = [header]
    for row in rows:
        table.append(
            (
                row["name"],
                row["task"],
                str(row["classes"] or "-"),
                row["input"] or "-",
                megabytes(row["size"]),
                row["sha256"][:12],
                "yes" if row["downloaded"] else "-",
                row["edgetpu"] or "-",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print(f"\nmodels are kept in {store.root}; `edgecam models pull NAME` downloads one")
    return 0


def _measured_input(spec: dict | None) -> str | None:
    """``HxWxC dtype`` as the installed file's graph said (model.json's input), or None."""
    inp = (spec or {}).get("input", {})
    if not all(isinstance(inp.get(k), int) for k in ("height", "width", "channels")):
        return None
    shape = f"{inp['height']}x{inp['width']}x{inp['channels']}"
    return f"{shape} {inp['dtype']}" if isinstance(inp.get("dtype"), str) else shape


def model_path(value: str | None) -> Path | None:
    """``--model``'s value as a path: catalogue names become their folders (pulled when
    missing); None stays None (the default model)."""
    return None if value is None else resolve_model(value)


#: ``edgecam run``'s options that take a model (``service install`` passes them on).
_MODEL_FLAGS = ("--model", "-m")


def resolve_run_args(argv: list[str]) -> list[str]:
    """``argv`` with a catalogue name after ``--model``/``-m`` replaced by its folder (pulled
    when missing), so a service unit names the files it runs."""
    out = list(argv)
    for i, token in enumerate(out):
        if token == "--":
            break
        if token in _MODEL_FLAGS and i + 1 < len(out):
            out[i + 1] = str(resolve_model(out[i + 1]))
        elif token.startswith("--model="):
            out[i] = f"--model={resolve_model(token.partition('=')[2])}"
    return out
