"""Reading of the region's YAML files with libyaml where PyYAML has it.

The validate, normalise, delta, render and mail tasks of every region each
read the region's four YAML files. For the bundled region PyYAML's pure
Python parser took 0.012 s and its libyaml parser (``CSafeLoader``) took
0.0013 s: the fastest of ten runs with PyYAML 6.0.3, on the benchmark
machine of ``docs/benchmarks.md``. Both build the Python objects with the
same constructor and resolver, so they return equal values.

libyaml's error messages lack the quoted line that the Python parser
prints. So a document that libyaml rejects is parsed again with the
Python parser, which raises its own error, or returns its result if it
accepts the document.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node

try:
    from yaml import CSafeLoader as _FAST_LOADER
except ImportError:  # PyYAML built without libyaml
    _FAST_LOADER = yaml.SafeLoader


def safe_load(text: str) -> Any:
    """Parse one YAML document into plain Python values, as ``yaml.safe_load`` does."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.load(text, Loader=yaml.SafeLoader)


def safe_compose(text: str) -> Node | None:
    """Parse one YAML document into its node tree, with the line of each node."""
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.compose(text, Loader=yaml.SafeLoader)
