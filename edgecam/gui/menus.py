"""The main window's menus, toolbar and shortcuts (the Models menu is models_menu's)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QToolBar

from edgecam.config import Delegate


def list_cameras(limit: int = 8) -> list[int]:
    """Camera indices worth offering: /dev/videoN on Linux, else the first few indices."""
    devices = sorted(Path("/dev").glob("video[0-9]*"))
    if devices:
        return [int(p.name[5:]) for p in devices][:limit]
    return list(range(min(limit, 4)))


def _action(
    window,
    text: str,
    slot,
    shortcut: str | None = None,
    checkable: bool = False,
    menu=None,
    toolbar: QToolBar | None = None,
) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    if menu is not None:
        menu.addAction(action)
    if toolbar is not None:
        toolbar.addAction(action)
    return action


def build_menus(window) -> None:
    """The menu bar, the toolbar and their shortcuts; the actions tests and code reach are set
    on ``window`` (``pause_action``, ``delegate_actions``...)."""
    bar = window.menuBar()
    tools = QToolBar("Main", window)
    tools.setObjectName("main-toolbar")
    window.addToolBar(tools)
    file_menu = bar.addMenu("&File")
    window.open_model_action = _action(
        window, "Open &model...", window.choose_model, "Ctrl+O", menu=file_menu, toolbar=tools
    )
    _action(
        window,
        "Open model &folder (bundle)...",
        window.choose_bundle,
        "Ctrl+Shift+M",
        menu=file_menu,
    )
    _action(window, "Open model &labels...", window.choose_labels, menu=file_menu)
    window.snapshot_action = _action(
        window, "&Snapshot", window.snapshot, "S", menu=file_menu, toolbar=tools
    )
    file_menu.addSeparator()
    _action(window, "&Quit", window.close, "Ctrl+Q", menu=file_menu)

    source_menu = bar.addMenu("&Source")
    cameras = source_menu.addMenu("&Camera")
    for index in list_cameras():
        _action(
            window,
            f"Camera {index}",
            lambda _=False, i=index: window.open_source(str(i)),
            menu=cameras,
        )
    _action(
        window,
        "Open &video...",
        window.choose_video,
        "Ctrl+Shift+O",
        menu=source_menu,
        toolbar=tools,
    )
    _action(window, "Open image &folder...", window.choose_folder, menu=source_menu)
    _action(window, "Open stream &URL...", window.choose_url, menu=source_menu)

    infer = bar.addMenu("&Inference")
    delegates = infer.addMenu("&Delegate")
    group = QActionGroup(window)
    window.delegate_actions = {}
    for delegate in Delegate:
        action = _action(
            window,
            delegate.value,
            lambda _=False, d=delegate: window.set_delegate(d),
            checkable=True,
            menu=delegates,
        )
        group.addAction(action)
        window.delegate_actions[delegate] = action
    threads = infer.addMenu("&Threads")
    thread_group = QActionGroup(window)
    for count in (None, 1, 2, 4, 8):
        action = _action(
            window,
            "auto (fastest)" if count is None else str(count),
            lambda _=False, n=count: window.set_threads(n),
            checkable=True,
            menu=threads,
        )
        thread_group.addAction(action)
    _action(window, "Top-&k...", window.choose_top_k, menu=infer)
    _action(window, "T&hreshold...", window.choose_threshold, menu=infer)

    view = bar.addMenu("&View")
    window.pause_action = _action(
        window, "&Pause", window.toggle_pause, "Space", checkable=True, menu=view, toolbar=tools
    )
    window.mirror_action = _action(
        window, "&Mirror", window.toggle_mirror, "M", checkable=True, menu=view, toolbar=tools
    )
    window.fullscreen_action = _action(
        window,
        "&Fullscreen",
        window.toggle_fullscreen,
        "F11",
        checkable=True,
        menu=view,
        toolbar=tools,
    )
    window.teach_action = _action(
        window,
        "&Teach mode",
        window.toggle_teach,
        "Ctrl+T",
        checkable=True,
        menu=view,
        toolbar=tools,
    )
