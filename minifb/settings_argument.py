"""A command-line option that gives a model's settings: a JSON object, or the path of a file holding one.

``train --config`` and ``reference --config`` take the same thing, e.g.
``--config '{"dim": 64, "depth": 2}'`` or ``--config small-vit.json``. A file is read when the
text names one; anything else must be JSON itself.
"""
from __future__ import annotations

import json
import pathlib


def read_settings(text: str, who: str, option: str = "--config") -> dict:
    """The settings in ``text`` (JSON, or a file of JSON); a clear ValueError naming ``who`` otherwise."""
    source = f"{option} {text!r}"
    path = pathlib.Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        text, source = path.read_text(), f"{option} file {path}"
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as e:
        hint = "" if text.lstrip().startswith("{") else " (nor a file that exists)"
        raise ValueError(f"{who}: {source} is not valid JSON{hint}: {e}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{who}: {source} must be a JSON object of settings, got {type(settings).__name__}")
    return settings
