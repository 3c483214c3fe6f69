import pytest

from models.pii import hash_identifier, identifier_key, mask, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" Ana.Silva@Example.COM ", "ana.silva@example.com"),
        ("bob@", None),
        ("no-at-sign", None),
        (None, None),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


def test_phone_formats_of_one_line_meet():
    forms = ["+55 11 91234-5678", "(11) 91234-5678", "011 91234 5678", "5511912345678"]
    assert len({normalize_phone(f) for f in forms}) == 1
    assert normalize_phone("123") is None


def test_keys_are_salted_and_never_contain_the_raw_value():
    key = identifier_key("email", "Ana@Example.com", "salt-a")
    assert key == hash_identifier("email", "ana@example.com", "salt-a")
    assert key != identifier_key("email", "Ana@Example.com", "salt-b")
    assert "ana" not in key


def test_mask_hides_most_of_the_identifier():
    assert mask("email", "ana.silva@example.com") == "a***@example.com"
    assert mask("phone", "+55 11 91234-5678") == "******5678"
