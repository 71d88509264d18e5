"""Draw Closer's app icons (our own artwork: two overlapping circles, two people drawing
near) as PNGs with no image library, so the artwork is reproducible from this file.

    python scripts/make_icons.py   # writes static/icons/*.png
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
BG = (163, 71, 42)  # --accent, light scheme
LEFT = (251, 247, 242)
RIGHT = (244, 200, 170)
OVERLAP = (255, 228, 208)
SAMPLES = 3  # supersampling per axis for smooth edges


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    pixels = sorted({row[i : i + 4] for row in rows for i in range(0, len(row), 4)})
    if len(pixels) <= 256:
        # Indexed colour: one byte a pixel and a palette (with its alpha) instead of four;
        # the icons are a few colours and their blends (192 px: 2,131 -> 1,326 bytes, 512 px:
        # 6,348 -> 4,098; the 32 px one, mostly palette then, 385 -> 376). The pixels are the same.
        index = {pixel: bytes([n]) for n, pixel in enumerate(pixels)}
        rows = [b"".join(index[row[i : i + 4]] for i in range(0, len(row), 4)) for row in rows]
        colour = 3
        extra = chunk(b"PLTE", b"".join(p[:3] for p in pixels))
        extra += chunk(b"tRNS", bytes(p[3] for p in pixels))
    else:
        colour, extra = 6, b""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def shade(x: float, y: float, size: int, scale: float, rounded: bool):
    """Colour (r, g, b, a) of one sample point; scale shrinks the motif into the safe zone."""
    u, v = x / size, y / size
    if rounded:
        r = 0.18
        cx, cy = min(max(u, r), 1 - r), min(max(v, r), 1 - r)
        if (u - cx) ** 2 + (v - cy) ** 2 > r * r:
            return (0, 0, 0, 0)
    radius = 0.2 * scale
    offset = 0.11 * scale
    in_left = (u - (0.5 - offset)) ** 2 + (v - 0.5) ** 2 <= radius * radius
    in_right = (u - (0.5 + offset)) ** 2 + (v - 0.5) ** 2 <= radius * radius
    if in_left and in_right:
        return (*OVERLAP, 255)
    if in_left:
        return (*LEFT, 255)
    if in_right:
        return (*RIGHT, 255)
    return (*BG, 255)


def draw(size: int, scale: float, rounded: bool) -> bytes:
    rows = []
    step = 1 / SAMPLES
    for py in range(size):
        row = bytearray()
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    r, g, b, a = shade(
                        px + (sx + 0.5) * step, py + (sy + 0.5) * step, size, scale, rounded
                    )
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3] / (SAMPLES * SAMPLES)
            if acc[3]:
                row += bytes(round(c / acc[3]) for c in acc[:3]) + bytes([round(alpha)])
            else:
                row += b"\x00\x00\x00\x00"
        rows.append(bytes(row))
    return png(size, size, rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icons = {
        "icon-192.png": (192, 1.4, True),
        "icon-512.png": (512, 1.4, True),
        "maskable-192.png": (192, 1.0, False),  # motif inside the 80% safe zone
        "maskable-512.png": (512, 1.0, False),
        "apple-touch-icon.png": (180, 1.2, False),  # iOS rounds the corners itself
        # The tab's icon (base.html): a browser shows it at 16-32 px, and on a first visit
        # the 192 px icon cost 2.6 KB where this costs a fraction of it.
        "favicon-32.png": (32, 1.4, True),
    }
    for name, (size, scale, rounded) in icons.items():
        (OUT / name).write_bytes(draw(size, scale, rounded))
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
