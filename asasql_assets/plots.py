"""Small matplotlib figures embedded in asset metadata as markdown images."""

import base64
import io
from collections.abc import Mapping, Sequence

import dagster as dg
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.figure import Figure  # noqa: E402

SIZE = (5.0, 3.0)


def figure_markdown(figure: Figure, title: str) -> dg.MetadataValue:
    """A figure as an inline PNG in a markdown metadata value; the figure is closed."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def histogram(values: Sequence[float], title: str, xlabel: str, bins: int = 20) -> dg.MetadataValue:
    """A histogram of values on [0, 1]."""
    figure, axes = plt.subplots(figsize=SIZE)
    axes.hist(list(values), bins=bins, range=(0.0, 1.0), color="#4c72b0")
    axes.set(title=title, xlabel=xlabel, ylabel="count")
    return figure_markdown(figure, title)


def lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str, ylabel: str
) -> dg.MetadataValue:
    """One marked line per named (x, y) series."""
    figure, axes = plt.subplots(figsize=SIZE)
    for name, (x, y) in series.items():
        axes.plot(list(x), list(y), marker="o", label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.legend()
    return figure_markdown(figure, title)


def bars(labels: Sequence[str], values: Mapping[str, Sequence[float]], title: str, ylabel: str) -> dg.MetadataValue:
    """Grouped bars: one group per label, one bar per named series."""
    figure, axes = plt.subplots(figsize=(max(SIZE[0], 0.8 * len(labels) + 2), SIZE[1]))
    width = 0.8 / max(len(values), 1)
    for i, (name, heights) in enumerate(values.items()):
        axes.bar([x + i * width for x in range(len(labels))], list(heights), width=width, label=name)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], list(labels), rotation=30, ha="right")
    axes.set(title=title, ylabel=ylabel)
    axes.legend()
    return figure_markdown(figure, title)
