"""Small real images for synth's image files: PNG and baseline JPEG, a few sizes.

Moodle 4.5 decodes images on restore (to strip their metadata), so an image
must be one: a magic number and filler is not. Both formats are encoded here
from their specifications, kept as simple as a valid file allows:

- PNG: 8-bit RGB, pixels cut from synth's random pool (noise, so the file is
  about as large as its pixels: stored deflate blocks, which every zlib
  writes the same way), the usual CRCs, a ``tEXt`` comment.
- JPEG: baseline, one grey component, every 8x8 block the same flat shade:
  the first block's DC difference sets the shade, the rest are "no change,
  end of block", coded with two one-symbol-per-length Huffman tables. Tiny at
  any size; a ``COM`` segment says which synth file it is.

Sizes come from ``SIZES``; the drawn size and shade come from the ``rng``
the caller gives, so a seed always gives the same images.
"""

from __future__ import annotations

import random
import struct
import zlib

__all__ = ["SIZES", "jpeg", "png"]

#: (width, height) of the images synth draws from
SIZES = ((32, 32), (64, 48), (160, 120), (320, 240))
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(rng: random.Random, pool: bytes, comment: str) -> bytes:
    """A noise PNG of one of ``SIZES``, its rows cut from ``pool`` at ``rng``'s offsets."""
    width, height = rng.choice(SIZES)
    row = 3 * width
    rows = []
    for _ in range(height):
        start = rng.randrange(0, len(pool) - row)
        rows.append(b"\0" + pool[start:start + row])  # filter type 0: none
    pixels = zlib.compress(b"".join(rows), 0)  # stored blocks: the same bytes everywhere
    return b"".join([
        _PNG_SIGNATURE,
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        _png_chunk(b"tEXt", b"Comment\0" + comment.encode("latin-1")),
        _png_chunk(b"IDAT", pixels),
        _png_chunk(b"IEND", b""),
    ])


def _segment(marker: int, data: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data


def jpeg(rng: random.Random, comment: str) -> bytes:
    """A flat grey baseline JPEG of one of ``SIZES``."""
    width, height = rng.choice(SIZES)
    shade = rng.randint(1, 1000)  # the first DC difference: > 0, a light grey
    category = shade.bit_length()
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    # DC table: symbol 0 (no change) is code 0, symbol `category` is code 10;
    # AC table: symbol 0x00 (end of block) is code 0
    dc_table = bytes([0x00]) + bytes([1, 1] + [0] * 14) + bytes([0, category])
    ac_table = bytes([0x10]) + bytes([1] + [0] * 15) + bytes([0x00])
    bits = "10" + format(shade, f"0{category}b") + "0" + "00" * (blocks - 1)
    bits += "1" * (-len(bits) % 8)  # pad the last byte with ones
    scan = bytearray()
    for index in range(0, len(bits), 8):
        byte = int(bits[index:index + 8], 2)
        scan.append(byte)
        if byte == 0xFF:  # a coded 0xFF is followed by a stuffed zero
            scan.append(0)
    return b"".join([
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xFE, comment.encode("latin-1")),
        _segment(0xDB, bytes([0x00]) + bytes([1] * 64)),  # table 0: every step 1
        _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0])),
        _segment(0xC4, dc_table + ac_table),
        _segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0])),
        bytes(scan),
        b"\xff\xd9",
    ])
