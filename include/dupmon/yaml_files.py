"""The region's and the templates' YAML files, read with errors that name the file and line.

PyYAML's safe loader gives the line and column of a syntax error, but a
value it cannot build, such as the date 2024-02-30, raises a bare
ValueError with neither. ``read_yaml`` reports such a value at its place in
the file as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from dupmon.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, whose errors give the place of a date that does not exist."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:
            raise ConstructorError(
                None, None, f"{node.value!r} is not a date ({error})", node.start_mark
            ) from error


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


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
        loader = _Loader(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise error_type(f"cannot read {file_kind}{path}: {error}") from error
    # PyYAML's messages name the stream they read, and a text has no name.
    loader.name = path.name
    try:
        return loader.get_single_data()
    except (ValueError, yaml.YAMLError) as error:
        raise error_type(f"cannot read {file_kind}{path}: {error}") from error
    finally:
        loader.dispose()
