from pathlib import Path

import pytest

from dupmon.directory import DirectoryError, load_directory

DIRECTORY = Path(__file__).resolve().parents[2] / "include/config/regions/sakhalin/municipalities.yaml"


@pytest.fixture(scope="module")
def directory():
    return load_directory(DIRECTORY)


def test_directory_lists_eighteen(directory):
    assert len(directory.municipalities) == 18


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ('Городской округ "город Южно-Сахалинск"', "yuzhno_sakhalinsk"),
        ("ГО «Город Южно-Сахалинск»", "yuzhno_sakhalinsk"),
        ("Анивский городской округ", "anivsky"),
        ("Городской округ «Анивский»", "anivsky"),
        ("Городской округ Анивский", "anivsky"),
        ('МО ГО "Анивский"', "anivsky"),
        ("Анивский ГО", "anivsky"),
        ("Анивский район", "anivsky"),
        ("Анивский муниципальный округ", "anivsky"),
        ("Городской округ «Александровск-Сахалинский район»", "aleksandrovsk_sakhalinsky"),
        ("Александровск-Сахалинский городской округ", "aleksandrovsk_sakhalinsky"),
        ("Северо - Курильский городской округ", "severo_kurilsky"),
        ("Северо-Курильский городской округ", "severo_kurilsky"),
        ("Южно-Курильский ГО", "yuzhno_kurilsky"),
        ("холмский городской округ", "kholmsky"),
        ("Xолмский ГО", "kholmsky"),  # Latin X typed in a Cyrillic word
        ("Городской\u00a0округ «Долинский»", "dolinsky"),
        ("Ногликский муниципальный округ", "noglikinsky"),
    ],
)
def test_municipality_variants_resolve(directory, name, expected):
    assert directory.resolve_municipality(name) == expected


def test_unknown_municipality_is_none(directory):
    assert directory.resolve_municipality("Энский городской округ") is None


def test_regional_ministry_is_regional(directory):
    assert directory.resolve_authority("Сахминобр").regional


def test_authority_resolves_by_root(directory):
    match = directory.resolve_authority('МКУ Управление ОКС МО ГО "Долинский"')
    assert match.municipality_id == "dolinsky"


@pytest.mark.parametrize(
    ("settlement", "expected"),
    [("Долинск", "dolinsky"), ("г.Долинск", "dolinsky"), ("с. Костромское", "kholmsky"),
     ("пгт Ноглики", "noglikinsky"), ("Южно-Сахалинск", "yuzhno_sakhalinsk")],
)
def test_settlements_resolve(directory, settlement, expected):
    assert directory.resolve_settlement(settlement) == expected


def test_root_in_school_name(directory):
    school = "МАОУ СОШ №8 им. генерал-лейтенанта В.Г. Асапова города Южно-Сахалинска"
    assert directory.find_root(school) == "yuzhno_sakhalinsk"


def test_duplicate_alias_rejected(tmp_path):
    path = tmp_path / "municipalities.yaml"
    path.write_text(
        "municipalities:\n"
        "  - {id: a, name: Альфа городской округ, stem: Альфа, settlements: [Бета]}\n"
        "  - {id: b, name: Гамма городской округ, stem: Гамма, settlements: [Бета]}\n",
        encoding="utf-8",
    )
    with pytest.raises(DirectoryError, match="Бета|бета"):
        load_directory(path)


# Directory files of a wrong shape, each with the words its error names.
WRONG_SHAPES = {
    "text in place of a list": (
        "  - {id: a, name: Альфа, roots: северогорск}\n",
        "municipality #1: roots must be a list of texts",
    ),
    "number in place of a list": (
        "  - {id: a, name: Альфа, settlements: 7}\n",
        "municipality #1: settlements must be a list of texts",
    ),
    "list of lists": (
        "  - {id: a, name: Альфа, aliases: [[Альфа-1]]}\n",
        "municipality #1: aliases must be a list of texts",
    ),
    "entry as a text": ("  - Альфа\n", "municipalities must be a list of entries"),
    "entry missing": ("  - null\n", "municipalities must be a list of entries"),
    "name as a list": ("  - {id: a, name: [Альфа]}\n", "municipality #1: name must be a text"),
    "name missing": ("  - {id: a, short: Альфа}\n", "municipality #1 lacks the field 'name'"),
    "id missing": ("  - {name: Альфа}\n", "municipality #1 lacks the field 'id'"),
}


@pytest.mark.parametrize("shape", WRONG_SHAPES)
def test_wrong_shape_rejected(tmp_path, shape):
    lines, words = WRONG_SHAPES[shape]
    path = tmp_path / "municipalities.yaml"
    path.write_text("municipalities:\n" + lines, encoding="utf-8")

    with pytest.raises(DirectoryError, match=words):
        load_directory(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("municipalities: Альфа\n", "municipalities must be a list of entries"),
        (
            "regional_authorities: [{aliases: [Министерство]}]\n"
            "municipalities: [{id: a, name: Альфа}]\n",
            "regional authority #1 lacks the field 'name'",
        ),
        (
            "regional_authorities: [{name: Министерство, aliases: Минобр}]\n"
            "municipalities: [{id: a, name: Альфа}]\n",
            "regional authority #1: aliases must be a list of texts",
        ),
    ],
    ids=["municipalities as a text", "authority without name", "authority aliases as a text"],
)
def test_wrong_top_level_rejected(tmp_path, text, words):
    path = tmp_path / "municipalities.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(DirectoryError, match=words):
        load_directory(path)


def test_region_block_ignored_with_warning(tmp_path, caplog):
    path = tmp_path / "municipalities.yaml"
    path.write_text(
        "region:\n  name: Старая область\nmunicipalities:\n  - id: a\n    name: А\n",
        encoding="utf-8",
    )

    directory = load_directory(path)

    assert directory.region_name == ""
    assert "ignoring the key 'region'" in caplog.text
    assert str(tmp_path / "region.yaml") in caplog.text


def test_region_names_from_region_file():
    from dupmon.regions import load_region_config

    region = load_region_config(DIRECTORY.parent)

    directory = load_directory(DIRECTORY, region)

    assert (directory.region_id, directory.region_name, directory.timezone) == (
        "sakhalin",
        "Сахалинская область",
        "Asia/Sakhalin",
    )


def test_resolution_keys_each_text_once(monkeypatch):
    from dupmon import directory as directory_module
    from dupmon.text import match_key

    keyed = []

    def counting_match_key(value):
        keyed.append(value)
        return match_key(value)

    directory = load_directory(DIRECTORY)
    monkeypatch.setattr(directory_module, "match_key", counting_match_key)
    school = "МБОУ СОШ с. Костромское Холмского района"
    for _ in range(3):
        directory.resolve_authority("Управление образования Холмского района")
        directory.resolve_municipality("Холмский городской округ")
        directory.resolve_settlement("с. Костромское")
        directory.find_root(school)

    assert sorted(keyed) == sorted(
        [
            "Управление образования Холмского района",
            "Холмский городской округ",
            "с. Костромское",
            school,
        ]
    )


@pytest.mark.parametrize("value", ["Холмский ГО", "", None, 42, "  Холмский\u00a0ГО "])
def test_key_of_equals_match_key(directory, value):
    from dupmon.text import match_key

    assert directory.key_of(value) == match_key(value)
    assert directory.key_of(value) == match_key(value)


def test_find_root_remembered_both_ways(directory):
    ambiguous = "Школа Холмского и Долинского округов"
    school = "МАОУ СОШ №8 города Южно-Сахалинска"

    first = [directory.find_root(ambiguous), directory.find_root(school)]
    again = [directory.find_root(ambiguous), directory.find_root(school)]

    assert first == [None, "yuzhno_sakhalinsk"]
    assert again == first


def test_resolving_keeps_directories_equal():
    used, fresh = load_directory(DIRECTORY), load_directory(DIRECTORY)

    used.find_root("МАОУ СОШ №8 города Южно-Сахалинска")

    assert used == fresh
