"""Directory of a region's municipalities (МО), authorities (УО) and settlements.

The directory is a YAML file per region under ``include/config/regions/``.
It turns the many spellings found in exports into one municipality id and
one display name.
"""

from __future__ import annotations

import logging
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dupmon.errors import ConfigError
from dupmon.text import clean_display, match_key
from dupmon.yaml_files import read_yaml

if TYPE_CHECKING:
    from dupmon.regions import RegionConfig

log = logging.getLogger(__name__)

# Forms in which a municipality «X» is written in exports and memos.
_NAME_FORMS = (
    "{stem}",
    "{stem} городской округ",
    "городской округ {stem}",
    "го {stem}",
    "мо го {stem}",
    "{stem} го",
    "{stem} район",
    "{stem} муниципальный район",
    "{stem} муниципальный округ",
    "муниципальный округ {stem}",
    "муниципальное образование {stem}",
)
# Settlement type prefixes dropped before a settlement is looked up.
_SETTLEMENT_PREFIX = re.compile(
    r"^(?:город|гор|пгт|поселок|пос|село|деревня|г|с|п|д)(?:\.\s*|\s+)"
)


class DirectoryError(ConfigError):
    """Invalid directory file."""


@dataclass(frozen=True)
class Municipality:
    """One municipality (муниципальное образование) of the region."""

    id: str
    name: str
    short: str
    order: int
    roots: tuple[str, ...] = ()
    authorities: tuple[str, ...] = ()
    settlements: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthorityMatch:
    """What an «Управление» value resolves to.

    ``regional`` is true for the regional ministry, whose schools belong to
    no municipality; otherwise ``municipality_id`` is set, or is None when
    the value is unknown.
    """

    regional: bool
    municipality_id: str | None


@dataclass
class Directory:
    """Lookup tables of one region, built from its directory file."""

    path: Path
    region_id: str
    region_name: str
    timezone: str
    no_municipality_row: str
    municipalities: list[Municipality]
    _by_name: dict[str, str] = field(default_factory=dict, repr=False)
    _by_settlement: dict[str, str] = field(default_factory=dict, repr=False)
    _by_authority: dict[str, str] = field(default_factory=dict, repr=False)
    _regional: set[str] = field(default_factory=set, repr=False)
    _roots: list[tuple[str, str]] = field(default_factory=list, repr=False)
    # The match key of each text the resolve methods were given, and the
    # municipality that find_root found for each key. An export repeats a
    # few hundred names over all its rows, and each distinct combination
    # of them is resolved separately, so the same texts come back often.
    _keys: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _root_of: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    def get(self, municipality_id: str) -> Municipality:
        for municipality in self.municipalities:
            if municipality.id == municipality_id:
                return municipality
        raise KeyError(municipality_id)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.municipalities]

    def key_of(self, value: object) -> str:
        """Return ``match_key(value)``, computed once per distinct text."""
        if type(value) is not str:
            return match_key(value)
        key = self._keys.get(value)
        if key is None:
            key = self._keys[value] = match_key(value)
        return key

    def resolve_municipality(self, value: object) -> str | None:
        """Return the id of the municipality a name denotes, or None."""
        key = self.key_of(value)
        if not key:
            return None
        return self._by_name.get(key) or self._by_name.get(key.removeprefix("г."))

    def resolve_settlement(self, value: object) -> str | None:
        """Return the id of the municipality a settlement lies in, or None."""
        key = _SETTLEMENT_PREFIX.sub("", self.key_of(value))
        return self._by_settlement.get(key) if key else None

    def resolve_authority(self, value: object) -> AuthorityMatch:
        """Resolve an «Управление» value: regional ministry, a municipality or unknown."""
        key = self.key_of(value)
        if not key:
            return AuthorityMatch(regional=False, municipality_id=None)
        if key in self._regional:
            return AuthorityMatch(regional=True, municipality_id=None)
        if key in self._by_authority:
            return AuthorityMatch(regional=False, municipality_id=self._by_authority[key])
        return AuthorityMatch(regional=False, municipality_id=self.find_root(value))

    def find_root(self, value: object) -> str | None:
        """Return the municipality whose root starts a word of ``value``, if exactly one does."""
        key = self.key_of(value)
        if key in self._root_of:
            return self._root_of[key]
        found = {
            municipality_id
            for word in re.split(r"[\s.,()]+", key)
            for root, municipality_id in self._roots
            if word.startswith(root)
        }
        self._root_of[key] = root = found.pop() if len(found) == 1 else None
        return root

    def is_known_settlement(self, value: object, municipality_id: str) -> bool:
        return self.resolve_settlement(value) == municipality_id


def _add_unique(table: dict[str, str], key: str, value: str, path: Path, what: str) -> None:
    if not key:
        return
    previous = table.setdefault(key, value)
    if previous != value:
        raise DirectoryError(
            f"{path}: {what} {key!r} is listed under both {previous!r} and {value!r}; "
            "keep it under one municipality"
        )


def _list(
    mapping: dict, key: str, item_type: type, expected: str, path: Path, where: str
) -> list:
    """Return the list under ``key`` if all its items are ``item_type``: missing gives []."""
    values = mapping.get(key) or []
    # A text in place of a list of texts would be read letter by letter.
    if not isinstance(values, list) or not all(isinstance(value, item_type) for value in values):
        raise DirectoryError(
            f"{path}: {where}{key} must be {expected}; found {reprlib.repr(values)}"
        )
    return values


def _entries(raw: dict, key: str, path: Path) -> list[dict]:
    """Return the list of mappings under ``key``: missing or empty gives []."""
    expected = "a list of entries, each with a name and its fields on lines of their own"
    return _list(raw, key, dict, expected, path, "")


def _texts(entry: dict, key: str, where: str, path: Path) -> list[str]:
    """Return the list of texts under ``key``: missing or empty gives []."""
    return _list(entry, key, str, "a list of texts, such as [Первый, Второй]", path, f"{where}: ")


def _text(entry: dict, key: str, where: str, path: Path, default: str | None = None) -> str:
    """Return the text under ``key``, or ``default`` where it is missing or empty."""
    value = entry.get(key)
    if value is None or value == "":
        if default is None:
            raise DirectoryError(f"{path}: {where} lacks the field {key!r}")
        return default
    if not isinstance(value, str):
        raise DirectoryError(
            f"{path}: {where}: {key} must be a text; found {reprlib.repr(value)}"
        )
    return value


def load_directory(path: Path, region: RegionConfig | None = None) -> Directory:
    """Load and check a region's directory file.

    The region's id, name and time zone come from ``region`` (its
    region.yaml). Without it the id is the folder name, the name is empty and
    the time zone is UTC.
    """
    raw = read_yaml(path, "the municipality directory ", DirectoryError)
    if not isinstance(raw, dict):
        raise DirectoryError(f"{path}: the directory must be a mapping with a municipalities list")
    if "region" in raw:
        log.warning(
            "%s: ignoring the key 'region'; the region's name and time zone are read from %s, "
            "so delete the key",
            path,
            path.parent / "region.yaml",
        )

    directory = Directory(
        path=path,
        region_id=region.id if region else path.parent.name,
        region_name=region.name if region else "",
        timezone=region.timezone if region else "UTC",
        no_municipality_row=clean_display(
            raw.get("no_municipality_row", "Организации регионального подчинения")
        ),
        municipalities=[],
    )
    for order, entry in enumerate(_entries(raw, "regional_authorities", path)):
        where = f"regional authority #{order + 1}"
        for name in [_text(entry, "name", where, path), *_texts(entry, "aliases", where, path)]:
            directory._regional.add(match_key(name))

    for order, entry in enumerate(_entries(raw, "municipalities", path)):
        where = f"municipality #{order + 1}"
        name = _text(entry, "name", where, path)
        if "id" not in entry:
            raise DirectoryError(f"{path}: {where} lacks the field 'id'")
        municipality = Municipality(
            id=str(entry["id"]),
            name=clean_display(name),
            short=clean_display(_text(entry, "short", where, path, name)),
            order=order,
            roots=tuple(match_key(r) for r in _texts(entry, "roots", where, path)),
            authorities=tuple(clean_display(a) for a in _texts(entry, "authorities", where, path)),
            settlements=tuple(clean_display(s) for s in _texts(entry, "settlements", where, path)),
        )
        directory.municipalities.append(municipality)

        stem = _text(entry, "stem", where, path, municipality.name)
        names = [municipality.name, municipality.short, *_texts(entry, "aliases", where, path)]
        names += [form.format(stem=stem) for form in _NAME_FORMS]
        for name in names:
            _add_unique(directory._by_name, match_key(name), municipality.id, path, "name")
        for settlement in municipality.settlements:
            key = _SETTLEMENT_PREFIX.sub("", match_key(settlement))
            _add_unique(directory._by_settlement, key, municipality.id, path, "settlement")
        for authority in municipality.authorities:
            _add_unique(directory._by_authority, match_key(authority), municipality.id, path, "authority")
        directory._roots.extend((root, municipality.id) for root in municipality.roots)

    if not directory.municipalities:
        raise DirectoryError(f"{path}: the directory lists no municipalities")
    return directory
