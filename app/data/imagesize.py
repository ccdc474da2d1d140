"""An image's width and height read from its header, before decoding (no Qt, no PIL).

``header_size(data) -> (width, height) | None`` understands PNG, JPEG, GIF, BMP, WebP, TIFF and PNM (the formats
OpenCV decodes for the app); None when the header is not one of those or is damaged (the decoder then decides).
``file_header(f)`` reads from an open file what those need, however far into the file it lies (a JPEG's frame
header after hundreds of KiB of ICC profile or maker notes, a TIFF's IFD at the end of the file, as libtiff and
OpenCV write it), without reading the rest. ``decode_image(data, what, max_pixels)`` checks the declared size
against ``app.data.limits`` and only then decodes with OpenCV: uint8 RGB (H, W, 3), or None when OpenCV cannot
decode it. The EXIF orientation tag is ignored (the pixels as stored, as the header declares them and as
torchvision's ``ImageFolder``/PIL loader reads them), never applied.
"""

from __future__ import annotations

import struct

import numpy as np

from app.data import limits


def _png(b: bytes):
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24 and b[12:16] == b"IHDR":
        return struct.unpack(">II", b[16:24])
    return None


def _jpeg(b: bytes):
    i = _jpeg_frame(b)
    if i is None or i + 9 > len(b):
        return None
    h, w = struct.unpack(">HH", b[i + 5:i + 9])
    return w, h


def _jpeg_frame(b: bytes) -> int | None:
    """Where a JPEG's start-of-frame segment begins (its marker's 0xFF), or None."""
    if b[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", b[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return i
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _gif(b: bytes):
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        return struct.unpack("<HH", b[6:10])
    return None


def _bmp(b: bytes):
    if b[:2] == b"BM" and len(b) >= 26:
        (hdr,) = struct.unpack("<I", b[14:18])
        if hdr == 12:
            w, h = struct.unpack("<HH", b[18:22])
        else:
            w, h = struct.unpack("<ii", b[18:26])
        return abs(w), abs(h)
    return None


def _webp(b: bytes):
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP" or len(b) < 30:
        return None
    chunk = b[12:16]
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(b[24:27], "little")
        h = 1 + int.from_bytes(b[27:30], "little")
        return w, h
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and b[20] == 0x2F:
        bits = int.from_bytes(b[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _tiff(b: bytes):
    if b[:4] not in (b"II*\x00", b"MM\x00*") or len(b) < 8:
        return None
    e = "<" if b[:2] == b"II" else ">"
    (off,) = struct.unpack(e + "I", b[4:8])
    if off + 2 > len(b):
        return None
    (count,) = struct.unpack(e + "H", b[off:off + 2])
    w = h = None
    for k in range(count):
        p = off + 2 + 12 * k
        if p + 12 > len(b):
            return None
        tag, typ = struct.unpack(e + "HH", b[p:p + 4])
        if tag in (256, 257):
            val = struct.unpack(e + ("H" if typ == 3 else "I"), b[p + 8:p + (10 if typ == 3 else 12)])[0]
            if tag == 256:
                w = val
            else:
                h = val
    return (w, h) if w is not None and h is not None else None


def _pnm(b: bytes):
    if len(b) < 3 or b[0:1] != b"P" or b[1:2] not in b"123456":
        return None
    fields: list[int] = []
    for line in b[2:512].split(b"\n"):
        line = line.split(b"#", 1)[0]
        for tok in line.split():
            if not tok.isdigit():
                return None
            fields.append(int(tok))
            if len(fields) == 2:
                return fields[0], fields[1]
    return None


def header_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """(width, height) declared by an image file's header, or None when it is not a known, readable header."""
    b = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    for parse in (_png, _jpeg, _gif, _bmp, _webp, _tiff, _pnm):
        try:
            size = parse(b)
        except (struct.error, IndexError, ValueError):
            size = None
        if size is not None:
            return int(size[0]), int(size[1])
    return None


HEAD = 4096  # bytes of a file's start read first (every format's header but a JPEG's or TIFF's is in them)
MAX_SEGMENTS = 4096  # JPEG segments walked before the frame header at most (a damaged file ends the walk)
MAX_IFD_ENTRIES = 4096  # a TIFF IFD's entries read at most


def file_header(f) -> bytes:
    """What ``header_size`` and ``header_channels`` need of the image file open (binary, at its start) in ``f``:
    its first ``HEAD`` bytes, or, when the size is not declared there, a JPEG's start-of-image and frame header
    found by walking its segments (seeking past each one's content) or a TIFF's header and first IFD (seeking to
    it), as one short header those functions read. Reads a few KiB whatever the file's size; raises OSError."""
    head = f.read(HEAD)
    if header_size(head) is not None:
        return head
    try:
        if head[:2] == b"\xff\xd8":
            found = _jpeg_file_frame(f)
        elif head[:4] in (b"II*\x00", b"MM\x00*") and len(head) >= 8:
            found = _tiff_file_ifd(f, head)
        else:
            found = None
    except (struct.error, ValueError):
        found = None
    return head if found is None else found


def _jpeg_file_frame(f) -> bytes | None:
    """SOI + the frame header segment of the JPEG file ``f`` (its segments walked from the start), or None."""
    f.seek(2)
    for _ in range(MAX_SEGMENTS):
        b = f.read(2)
        if len(b) < 2 or b[0] != 0xFF:
            return None
        marker = b[1]
        while marker == 0xFF:  # fill bytes
            nxt = f.read(1)
            if not nxt:
                return None
            marker = nxt[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            continue
        raw = f.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if length < 2 or marker == 0xDA:  # damaged, or the scan before any frame header
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            body = f.read(min(length - 2, 64))
            return b"\xff\xd8\xff" + bytes([marker]) + raw + body
        f.seek(length - 2, 1)
    return None


def _tiff_file_ifd(f, head: bytes) -> bytes | None:
    """A TIFF's 8-byte header and its first IFD (read where the header says it is) as one short TIFF, or None."""
    e = "<" if head[:2] == b"II" else ">"
    (off,) = struct.unpack(e + "I", head[4:8])
    f.seek(off)
    raw = f.read(2)
    if len(raw) < 2:
        return None
    (count,) = struct.unpack(e + "H", raw)
    entries = f.read(12 * min(count, MAX_IFD_ENTRIES))
    if len(entries) < 12 * min(count, MAX_IFD_ENTRIES):
        return None
    return head[:4] + struct.pack(e + "I", 8) + struct.pack(e + "H", min(count, MAX_IFD_ENTRIES)) + entries


def header_channels(data: bytes | np.ndarray) -> int | None:
    """The colour channels an image file declares, 1 (grey) or 3, from a PNG, JPEG or PNM header (grey with alpha
    counts as grey: the app drops alpha); None for other formats or a damaged header."""
    b = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 26 and b[12:16] == b"IHDR":
        return {0: 1, 4: 1, 2: 3, 3: 3, 6: 3}.get(b[25])
    try:
        i = _jpeg_frame(b)
    except (struct.error, IndexError, ValueError):
        i = None
    if i is not None:
        return (1 if b[i + 9] == 1 else 3) if i + 10 <= len(b) else None
    if len(b) >= 2 and b[0:1] == b"P" and b[1:2] in b"123456":
        return 1 if b[1:2] in b"1245" else 3
    return None


def has_alpha(data: bytes | np.ndarray) -> bool:
    """Whether an image file declares transparency: a PNG of colour type 4 or 6 (grey or RGB with alpha) or with a
    ``tRNS`` chunk (a transparent palette entry or colour), a WebP with the alpha flag; False for other formats."""
    b = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 26 and b[12:16] == b"IHDR":
        if b[25] in (4, 6):
            return True
        i = 8
        while i + 8 <= len(b):  # the chunks before the image data (tRNS must come before IDAT)
            n, kind = struct.unpack(">I4s", b[i:i + 8])
            if kind == b"tRNS":
                return True
            if kind == b"IDAT":
                return False
            i += 12 + n
        return False
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP" and len(b) >= 21 and b[12:16] == b"VP8X":
        return bool(b[20] & 0x10)
    return False


def decode_image(buf: np.ndarray, what: str, max_pixels: int | None = None,
                 grey: bool = False) -> np.ndarray | None:
    """Decode an encoded image (uint8 bytes) to uint8 RGB (H, W, 3), or ``grey`` (H, W, 1), after checking its
    declared size.

    Raises ``LimitError`` (naming ``what`` and the limit) when the header declares more than ``max_pixels``
    (default ``limits.MAX_IMAGE_PIXELS``); returns None when OpenCV cannot decode the data."""
    import cv2

    if buf.size == 0:
        return None
    size = header_size(buf[:1 << 16])
    if size is None and buf.size > 1 << 16:  # a JPEG frame header after a large EXIF block
        size = header_size(buf)
    if size is not None:
        limits.check_pixels(what, size[0], size[1], max_pixels)
    # IMREAD_COLOR and IMREAD_GRAYSCALE alone apply an EXIF orientation: a portrait phone photo (stored landscape,
    # orientation 6) came out turned, unlike its header's size and torchvision's loader, and was squashed to the size
    # the headers declare
    if grey:
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
        return None if img is None else img[..., None]
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
