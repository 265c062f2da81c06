# SPDX-License-Identifier: GPL-2.0-only
"""YAML loading that turns syntax and shape errors into one line naming file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import BadInput


def load_yaml(path: Path) -> Any:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "syntax error"
        raise BadInput(f"{where}: YAML error: {problem}", "fix the file and run again") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: YAML error: {exc}", "fix the file and run again") from None


def require_mapping(value: Any, path: Path, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadInput(f"{path}: {what} must be a mapping, got {type(value).__name__}")
    return value
