"""QR codes drawn as one SVG path, for links a person carries to another phone (device codes,
partner invites). segno draws the symbol; templates write the path inline, escaped like any
value: no markup is marked safe, no image is fetched."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import segno


@dataclass(frozen=True)
class QrCode:
    size: int  # modules per side, quiet zone included
    path: str  # SVG path data of the dark modules: digits and letters only


def qr_code(text: str, border: int = 4) -> QrCode:
    """The QR code of `text`: each run of dark modules in a row is one rectangle."""
    rows = segno.make_qr(text, error="m").matrix_iter(scale=1, border=border)
    runs = []
    x = 0
    for y, row in enumerate(rows):
        x = 0
        for dark, group in itertools.groupby(row):
            width = len(list(group))
            if dark:
                runs.append(f"M{x} {y}h{width}v1h-{width}z")
            x += width
    return QrCode(size=x, path="".join(runs))
