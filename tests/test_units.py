"""Sizes as written on the command line."""

import pytest

from mbx.units import format_size, parse_size


@pytest.mark.parametrize("text, size", [("100M", 100 << 20), ("1G", 1 << 30), ("2m", 2 << 20),
                                        ("5KiB", 5 << 10), ("1.5K", 1536), ("123", 123), (7, 7)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "x", "inf", "nanM", "-1M", "1Q", -3])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size():
    assert [format_size(n) for n in (0, 999, 17545, 2_500_000, 3 * 10**12)] == [
        "0 B", "999 B", "17.5 KB", "2.5 MB", "3000.0 GB"]
