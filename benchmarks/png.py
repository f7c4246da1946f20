"""A grouped bar chart as a PNG, with matplotlib where installed and a small built-in writer
(zlib + a 3×5 pixel font) where not, so ``make bench`` needs no plotting library."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

# 3×5 glyphs, one string of 5 rows of 3 pixels each ("#" on); lower case is drawn as upper case.
_FONT = {
    "0": "###,#.#,#.#,#.#,###",
    "1": ".#.,##.,.#.,.#.,###",
    "2": "###,..#,###,#..,###",
    "3": "###,..#,.##,..#,###",
    "4": "#.#,#.#,###,..#,..#",
    "5": "###,#..,###,..#,###",
    "6": "###,#..,###,#.#,###",
    "7": "###,..#,.#.,.#.,.#.",
    "8": "###,#.#,###,#.#,###",
    "9": "###,#.#,###,..#,###",
    "A": ".#.,#.#,###,#.#,#.#",
    "B": "##.,#.#,##.,#.#,##.",
    "C": ".##,#..,#..,#..,.##",
    "D": "##.,#.#,#.#,#.#,##.",
    "E": "###,#..,##.,#..,###",
    "F": "###,#..,##.,#..,#..",
    "G": ".##,#..,#.#,#.#,.##",
    "H": "#.#,#.#,###,#.#,#.#",
    "I": "###,.#.,.#.,.#.,###",
    "J": "..#,..#,..#,#.#,.#.",
    "K": "#.#,#.#,##.,#.#,#.#",
    "L": "#..,#..,#..,#..,###",
    "M": "#.#,###,###,#.#,#.#",
    "N": "##.,#.#,#.#,#.#,#.#",
    "O": ".#.,#.#,#.#,#.#,.#.",
    "P": "##.,#.#,##.,#..,#..",
    "Q": ".#.,#.#,#.#,##.,.##",
    "R": "##.,#.#,##.,#.#,#.#",
    "S": ".##,#..,.#.,..#,##.",
    "T": "###,.#.,.#.,.#.,.#.",
    "U": "#.#,#.#,#.#,#.#,###",
    "V": "#.#,#.#,#.#,#.#,.#.",
    "W": "#.#,#.#,###,###,#.#",
    "X": "#.#,#.#,.#.,#.#,#.#",
    "Y": "#.#,#.#,.#.,.#.,.#.",
    "Z": "###,..#,.#.,#..,###",
    ".": "...,...,...,...,.#.",
    ",": "...,...,...,.#.,#..",
    ":": "...,.#.,...,.#.,...",
    "-": "...,...,###,...,...",
    "+": "...,.#.,###,.#.,...",
    "/": "..#,..#,.#.,#..,#..",
    "(": ".#.,#..,#..,#..,.#.",
    ")": ".#.,..#,..#,..#,.#.",
    "×": "...,#.#,.#.,#.#,...",
    "=": "...,###,...,###,...",
    "_": "...,...,...,...,###",
    " ": "...,...,...,...,...",
}

PALETTE = [(70, 110, 180), (230, 140, 40), (80, 160, 90), (200, 70, 70), (140, 100, 180)]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, text: str, scale: int = 2, color=(0, 0, 0)) -> None:
        for char in text:
            glyph = _FONT.get(char.upper(), _FONT[" "])
            for row, bits in enumerate(glyph.split(",")):
                for column, bit in enumerate(bits):
                    if bit == "#":
                        px, py = x + column * scale, y + row * scale
                        self.rect(px, py, px + scale, py + scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3])
            for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale


def _builtin_chart(
    path: str, title: str, groups: Sequence[str], series: dict[str, Sequence[float | None]]
) -> None:
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max([1.0, *values]) * 1.1
    bar, gap = 18, 26
    group_width = max(bar * len(series) + gap, 104)  # room for a 12-character label
    left, right, plot_top, plot_height = 60, 20, 50, 300
    legend_height = 18 * len(series) + 10
    width = max(left + right + group_width * len(groups), 420)
    height = plot_top + plot_height + 60 + legend_height
    canvas = _Canvas(width, height)
    canvas.text(left, 12, title)
    base = plot_top + plot_height

    def y_of(value: float) -> int:
        return base - round(value / top * plot_height)

    step = 0.5 if top <= 4 else 1.0 if top <= 8 else 2.0
    tick = 0.0
    while tick <= top:
        canvas.rect(left, y_of(tick), width - right, y_of(tick) + 1, (225, 225, 225))
        canvas.text(4, y_of(tick) - 5, f"{tick:.1f}×")
        tick += step
    canvas.rect(left, y_of(1.0), width - right, y_of(1.0) + 2, (0, 0, 0))  # PyTorch eager
    for g, group in enumerate(groups):
        x = left + gap // 2 + g * group_width
        for s, values_of_series in enumerate(series.values()):
            value = values_of_series[g]
            if value is not None:
                canvas.rect(x + s * bar, y_of(value), x + (s + 1) * bar - 2, base, PALETTE[s % 5])
        for line, word in enumerate(group.split(", ")):
            canvas.text(x, base + 8 + line * 14, word[: group_width // 8])
    y = base + 44
    for s, name in enumerate(series):
        canvas.rect(left, y, left + 12, y + 12, PALETTE[s % 5])
        canvas.text(left + 18, y + 1, name)
        y += 18
    with open(path, "wb") as f:
        f.write(canvas.png())


def bar_chart(
    path: str, title: str, groups: Sequence[str], series: dict[str, Sequence[float | None]]
) -> str:
    """Write the chart; returns which renderer drew it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _builtin_chart(path, title, groups, series)
        return "built-in PNG writer (matplotlib not installed)"
    figure, axes = plt.subplots(figsize=(1.6 * len(groups) + 3, 4.5))
    width = 0.8 / len(series)
    for s, (name, values) in enumerate(series.items()):
        xs = [g + s * width for g, v in enumerate(values) if v is not None]
        axes.bar(xs, [v for v in values if v is not None], width, label=name)
    axes.axhline(1.0, color="black", linewidth=1)
    axes.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, fontsize=8)
    axes.set_ylabel("time / PyTorch eager (lower is faster)")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return "matplotlib"
