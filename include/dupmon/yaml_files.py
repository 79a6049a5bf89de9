"""The region's and the templates' YAML files, read with errors that name the file and line.

PyYAML's safe loader gives the line and column of a syntax error, but a
value it cannot build, such as the date 2024-02-30 or ``!!int abc``,
raises a bare ValueError with neither. ``read_yaml`` reports such a value
at its place in the file as well.
"""

from __future__ import annotations

import io
import reprlib
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode
from yaml.reader import ReaderError

from dupmon.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, whose errors give the place of a value it cannot build."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, AttributeError, KeyError, IndexError) as error:
            value = reprlib.repr(node.value) if isinstance(node, ScalarNode) else f"a {node.id}"
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            problem = f"invalid value {value} for the tag {tag}"
            # The other errors are raised inside PyYAML's constructors by a
            # value that does not fit its tag, as «!!timestamp hello» does,
            # and their text would only confuse the reader.
            if isinstance(error, (ValueError, OverflowError)):
                problem += f" ({error})"
            raise ConstructorError(None, None, problem, node.start_mark) from error


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
    except ReaderError as error:
        raise error_type(
            f"cannot read {file_kind}{path}: {_character_problem(text, error)}"
        ) from error
    except yaml.YAMLError as error:
        raise error_type(f"cannot read {file_kind}{path}: {error}") from error
    except ValueError as error:
        # PyYAML's scanner raises ValueError without a place for an escape
        # such as "\U0011FFFF", so the line where the reader stopped is given.
        place = "" if loader is None else f" near line {loader.get_mark().line + 1}"
        raise error_type(f"cannot read {file_kind}{path}{place}: {error}") from error
    except RecursionError as error:
        raise error_type(
            f"cannot read {file_kind}{path}: it is nested too deeply for the parser; "
            "flatten its lists and mappings"
        ) from error
    finally:
        if loader is not None:
            loader.dispose()


def _character_problem(text: str, error: ReaderError) -> str:
    """Describe a character PyYAML rejects, with its line and column in ``text``."""
    # PyYAML gives the character as its code point, and its position in
    # characters from the start of the text.
    if not isinstance(error.character, int) or not 0 <= error.position < len(text):
        return str(error)
    line = text.count("\n", 0, error.position) + 1
    column = error.position - text.rfind("\n", 0, error.position)
    return (
        f"the character U+{error.character:04X} at line {line}, column {column} is not "
        "allowed in YAML; delete it or type the text again"
    )
