"""The recipients file: the regional list, each municipal authority's addresses, the operators.

The file is YAML with three keys. ``regional`` lists the addresses that
receive every справка. ``municipalities`` maps a municipality id of the
directory to the addresses of its education authority (УО), which receive
the справка and that municipality's reminders. ``operators`` (optional)
lists the addresses that receive the notice of a failed task. Every address
is checked when the file loads, and an error names the file and the line.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dupmon.directory import Directory
from dupmon.errors import ConfigError

# A pragmatic check: one @, no spaces, a dotted domain. Deliverability is the
# SMTP server's business; this catches typos and pasted names.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
KEYS = ("regional", "municipalities", "operators")


def check_address(address: str) -> str:
    """Return ``address`` with a Cyrillic (IDN) domain in its ASCII form (``xn--``).

    Raises ValueError for anything but a bare ``local@domain`` address with
    an ASCII local part, because the mail is sent without SMTPUTF8.
    """
    local, at, domain = address.rpartition("@")
    if at and domain and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"the domain of {address!r} is not a valid domain name") from None
        address = f"{local}@{domain}"
    if not _ADDRESS.match(address):
        raise ValueError(f"invalid e-mail address {address!r}; write it as name@domain")
    return address


def parse_address_list(text: str) -> list[str]:
    """Split a comma- or semicolon-separated list of addresses and check each.

    This is the form of an address list in an environment variable or an
    Airflow Variable. Raises ValueError naming the first invalid address.
    """
    return [check_address(part.strip()) for part in re.split(r"[,;]", text) if part.strip()]


def load_recipients(path: Path, directory: Directory) -> dict:
    """Read and check the recipients file.

    Returns ``{"regional": [...], "municipalities": {id: [...]}, "operators": [...]}``
    in file order. Raises ConfigError naming the line of an invalid address,
    an address listed twice in one list, an unknown or repeated municipality
    id, or an unknown key.
    """
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the recipients file {path}: {error}") from error
    if root is None:
        raise ConfigError(f"{path}: the recipients file is empty; list the regional addresses")

    result: dict = {"regional": [], "municipalities": {}, "operators": []}
    for key_node, value_node in _entries(root, path, "the recipients file"):
        key = key_node.value
        if key not in KEYS:
            raise ConfigError(f"{_at(path, key_node)}: unknown key {key!r}; use {', '.join(KEYS)}")
        if key == "municipalities":
            result[key] = _municipalities(value_node, path, directory)
        else:
            result[key] = _addresses(value_node, path, key)
    return result


def _municipalities(node: Node, path: Path, directory: Directory) -> dict[str, list[str]]:
    known = set(directory.ids)
    municipalities: dict[str, list[str]] = {}
    for key_node, value_node in _entries(node, path, "municipalities"):
        municipality_id = key_node.value
        if municipality_id not in known:
            raise ConfigError(
                f"{_at(path, key_node)}: unknown municipality id {municipality_id!r}; "
                f"use an id from {directory.path}"
            )
        municipalities[municipality_id] = _addresses(value_node, path, municipality_id)
    return municipalities


def _entries(node: Node, path: Path, where: str) -> list[tuple[ScalarNode, Node]]:
    """Return the (key, value) nodes of a YAML mapping. Raises ConfigError for a key given twice.

    PyYAML keeps the last of two equal keys without a warning, which would
    drop the addresses of the first.
    """
    if _is_null(node):
        return []
    if not isinstance(node, MappingNode):
        raise ConfigError(f"{_at(path, node)}: {where} must be a mapping of keys to values")
    first_lines: dict[str, int] = {}
    entries = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise ConfigError(f"{_at(path, key_node)}: a key in {where} must be a plain name")
        if key_node.value in first_lines:
            raise ConfigError(
                f"{_at(path, key_node)}: {key_node.value!r} is listed twice in {where} "
                f"(first on line {first_lines[key_node.value]}); merge the two entries"
            )
        first_lines[key_node.value] = _line(key_node)
        entries.append((key_node, value_node))
    return entries


def _addresses(node: Node, path: Path, where: str) -> list[str]:
    """Return the checked addresses of a list (or of one address written alone)."""
    if _is_null(node):
        return []
    items = node.value if isinstance(node, SequenceNode) else [node]
    addresses: list[str] = []
    first_lines: dict[str, int] = {}
    for item in items:
        if not isinstance(item, ScalarNode):
            raise ConfigError(f"{_at(path, item)}: {where} must list addresses, one per item")
        try:
            address = check_address(str(item.value).strip())
        except ValueError as error:
            raise ConfigError(f"{_at(path, item)}: {error} in {where}") from None
        # The mail ledger keys recipients in lower case, so case does not make two addresses.
        key = address.lower()
        if key in first_lines:
            raise ConfigError(
                f"{_at(path, item)}: {address!r} is listed twice in {where} "
                f"(first on line {first_lines[key]}); remove one"
            )
        first_lines[key] = _line(item)
        addresses.append(address)
    return addresses


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _at(path: Path, node: Node) -> str:
    return f"{path} line {_line(node)}"
