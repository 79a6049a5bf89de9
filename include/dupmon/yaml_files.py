"""YAML parsed by libyaml, with PyYAML's own parser for the error messages.

Every step reads the region's configuration. PyYAML's parser, written in
Python, took 32 ms per step for Sakhalin's four files on a 2-core Intel
Xeon virtual machine, libyaml 4 ms. Both hand their events to the same
``SafeConstructor``, so a document gives the same values either way. A
document libyaml rejects is parsed again by PyYAML's parser, whose message
quotes the line at fault, so that the error a clerk reads stays the same.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node

# None where PyYAML was built without libyaml.
FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def safe_load(text: str) -> Any:
    """Return the data of one YAML document, as ``yaml.safe_load`` does."""
    return _parsed(yaml.load, text)


def compose(text: str) -> Node | None:
    """Return the node tree of one YAML document, as ``yaml.compose`` does with SafeLoader."""
    return _parsed(yaml.compose, text)


def _parsed(function, text: str):
    if FAST_LOADER is not None:
        try:
            return function(text, Loader=FAST_LOADER)
        except yaml.YAMLError:
            pass
    return function(text, Loader=yaml.SafeLoader)
