"""The region's and the templates' YAML files, read with errors that name the file and line.

PyYAML's safe loader gives the line and column of a syntax error, but a
value it cannot build, such as the date 2024-02-30 or ``!!int abc``,
raises a bare ValueError with neither. ``read_yaml`` reports such a value
at its place in the file as well.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode

from dupmon.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, whose errors give the place of a value it cannot build."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, AttributeError, OverflowError) as error:
            # PyYAML's timestamp constructor raises AttributeError for a
            # value tagged as a date that is not one.
            value = repr(node.value) if isinstance(node, ScalarNode) else f"a {node.id}"
            raise ConstructorError(
                None, None, f"invalid value {value} ({error})", node.start_mark
            ) from error


def read_yaml(
    path: Path, file_kind: str = "", error_type: type[ConfigError] = ConfigError
) -> Any:
    """Return the value of the YAML file at ``path``.

    A file that cannot be read, is not UTF-8 or is not valid YAML raises
    ``error_type``. Its message names the file after ``file_kind`` (such as
    "the municipality directory "), and the line and column where PyYAML
    found the problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as error:
        raise error_type(f"cannot read {file_kind}{path}: {error}") from error
    # PyYAML's messages name the stream they read, and a text has no name.
    stream = io.StringIO(text)
    stream.name = path.name
    loader = None
    try:
        loader = _Loader(stream)
        return loader.get_single_data()
    except (yaml.YAMLError, ValueError) as error:
        raise error_type(f"cannot read {file_kind}{path}: {error}") from error
    except RecursionError as error:
        raise error_type(
            f"cannot read {file_kind}{path}: it is nested too deeply for the parser; "
            "flatten its lists and mappings"
        ) from error
    finally:
        if loader is not None:
            loader.dispose()
