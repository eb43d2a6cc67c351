"""`inv drill --plot FILE`: each round of a drill as a timeline, drawn by matplotlib.

One panel per round: the requests sent through the VIP per 100 ms, answered and failed, from a
second before the fault until the service answered again, and the moments the drill read: the
fault, the first failed request, the fence (the fencer's journal), the VIP's start (the
controller's journal on its new node) and the first answer after the last failure.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from .errors import UserError

FORMATS = ("svg", "png")
BUCKET_S = 0.1
MOMENT_COLOURS = {"fault": "black", "first failed request": "tab:red", "fenced": "tab:purple",
                  "VIP started": "tab:blue", "answered again": "tab:green"}


def check_target(path):
    """Refuse a plot the drill could not write, before any fault is injected."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UserError(f"--plot {path}: name an .svg or .png file")
    if not Path(path).resolve().parent.is_dir():
        raise UserError(f"--plot {path}: its directory does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'halb[plot]'") from None


def buckets(samples, bucket_s=BUCKET_S):
    """[(bucket start, answered, failed)] of [seconds after the fault, answered] samples, every
    bucket from the first to the last present (empty ones as zeros)."""
    if not samples:
        return []
    # The nudge keeps a sample on a bucket's edge (0.3 s as 0.29999...) in the bucket it starts.
    index = [math.floor(t / bucket_s + 1e-9) for t, _ in samples]
    counts = {i: [0, 0] for i in range(min(index), max(index) + 1)}
    for i, (_, ok) in zip(index, samples, strict=True):
        counts[i][0 if ok else 1] += 1
    return [(round(i * bucket_s, 3), ok, failed) for i, (ok, failed) in sorted(counts.items())]


def plot(rounds, path, title):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    # Its notices (a font cache built on first use) would land in the middle of a report.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text in an SVG: searchable, selectable
    figure, axes = plt.subplots(len(rounds), 1, figsize=(10, 2.8 * len(rounds)), squeeze=False)
    for ax, round_ in zip(axes[:, 0], rounds, strict=True):
        rows = buckets(round_.samples)
        starts = [start for start, _, _ in rows]
        answered = [ok for _, ok, _ in rows]
        failed = [bad for _, _, bad in rows]
        ax.bar(starts, answered, width=BUCKET_S, align="edge", color="tab:green",
               label="answered")
        ax.bar(starts, failed, width=BUCKET_S, align="edge", bottom=answered, color="tab:red",
               label="failed")
        top = max((ok + bad for _, ok, bad in rows), default=1)
        moments = sorted({"fault": 0.0, **round_.moments}.items(), key=lambda item: item[1])
        for number, (name, at) in enumerate(moments):
            colour = MOMENT_COLOURS.get(name, "grey")
            ax.axvline(at, color=colour, linestyle="--", linewidth=1)
            # Labels one above the other, so that moments close in time stay readable.
            ax.annotate(f" {name} {at:.2f}s", (at, top * (1.9 - 0.17 * (number % 5))),
                        fontsize=7, color=colour, ha="left", va="center")
        ax.set_ylim(0, top * 2.0)
        ax.set_title(f"round {round_.number}: {round_.fault} of {round_.victim}, VIP "
                     f"{round_.vip_before or '?'} -> {round_.vip_after or '?'}, outage "
                     f"{round_.outage_s:.2f} s", fontsize=9)
        ax.set_xlabel("seconds after the fault")
        ax.set_ylabel(f"requests per {BUCKET_S * 1000:.0f} ms")
        ax.legend(loc="upper right", fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
