from dupmon.text import clean_display, match_key


def test_display_keeps_quotes_and_case():
    assert clean_display("  МБОУ  «СОШ\u00a0№ 1» ") == "МБОУ «СОШ № 1»"


def test_display_drops_zero_width():
    assert clean_display("СОШ\u200b №1\ufeff") == "СОШ №1"


def test_match_key_number_sign():
    assert match_key("СОШ № 8") == match_key("сош №8")


def test_match_key_quotes_and_yo():
    assert match_key("Городской округ «Охинский»") == match_key('городской округ "Oхинский"')


def test_match_key_yo():
    assert match_key("Озёрский") == match_key("Озерский")


def test_match_key_spaced_dash():
    assert match_key("Северо - Курильский") == "северо-курильский"


def test_latin_word_untouched():
    assert match_key("MAOU") == "maou"
