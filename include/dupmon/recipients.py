"""The recipients file: the regional list and each municipal authority's addresses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from dupmon.directory import Directory
from dupmon.errors import ConfigError

# A pragmatic check: one @, no spaces, a dotted domain. Deliverability is the
# SMTP server's business; this catches typos and pasted names.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _line_of(text: str, value: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if value in line:
            return number
    return None


def load_recipients(path: Path, directory: Directory) -> dict:
    """Read and check the recipients file.

    Returns ``{"regional": [...], "municipalities": {id: [...]}}``. Raises
    ConfigError naming the line of an invalid address or an unknown
    municipality id.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the recipients file {path}: {error}") from error

    def checked(addresses, where: str) -> list[str]:
        if isinstance(addresses, str):
            addresses = [addresses]
        result = []
        for address in addresses or []:
            address = str(address).strip()
            if not _ADDRESS.match(address):
                line = _line_of(text, address)
                at = f" line {line}" if line else ""
                raise ConfigError(
                    f"{path}{at}: invalid e-mail address {address!r} in {where}; "
                    "write it as name@domain"
                )
            result.append(address)
        return result

    known = set(directory.ids)
    municipalities = {}
    for municipality_id, addresses in (raw.get("municipalities") or {}).items():
        if municipality_id not in known:
            line = _line_of(text, f"{municipality_id}:")
            at = f" line {line}" if line else ""
            raise ConfigError(
                f"{path}{at}: unknown municipality id {municipality_id!r}; use an id from "
                f"{directory.path}"
            )
        municipalities[municipality_id] = checked(addresses, municipality_id)
    return {"regional": checked(raw.get("regional"), "regional"), "municipalities": municipalities}
