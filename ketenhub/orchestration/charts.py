"""Charts as SVG drawn on the server: nothing to fetch at runtime, and the colours come from the
page's CSS variables, so a chart follows Airflow's light or dark theme without being drawn again."""
from __future__ import annotations

from datetime import datetime
from html import escape

W, H, LEFT, BOTTOM, TOP = 360, 150, 44, 22, 10


def _label(v: float, unit: str) -> str:
    if unit == "%":
        return f"{v * 100:.0f} %"
    if unit == "s":
        return duration(v)
    return f"{v:,.0f}".replace(",", " ")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _when(at: datetime, span: str) -> str:
    return f"{at:%H:%M}" if span == "day" else f"{at:%d-%m}"


def chart(title: str, buckets: list[datetime], span: str, series: list[tuple[str, list, str]],
          unit: str = "", kind: str = "bar") -> str:
    """One chart: ``series`` is (name, values, css class); bars side by side, or lines. A value
    of None is no point (nothing to measure then). Each bar or point has its value as a tooltip,
    and the figures are in a table under the chart for who cannot see it."""
    n = len(buckets)
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top = max(values, default=0) or 1
    if unit == "%":
        top = max(top, 0.01)
    plot_w, plot_h = W - LEFT - 6, H - TOP - BOTTOM
    step = plot_w / n
    x0, y0 = LEFT, TOP + plot_h

    def y(v):
        return y0 - plot_h * v / top

    parts = [f"<line class='axis' x1='{x0}' y1='{y0}' x2='{x0 + plot_w}' y2='{y0}'/>",
             f"<line class='grid' x1='{x0}' y1='{y(top):.1f}' x2='{x0 + plot_w}' y2='{y(top):.1f}'/>",
             f"<text class='tick' x='{x0 - 4}' y='{y(top) + 4:.1f}' text-anchor='end'>{escape(_label(top, unit))}</text>",
             f"<text class='tick' x='{x0 - 4}' y='{y0 + 4}' text-anchor='end'>0</text>"]
    for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
        x = x0 + step * (i if anchor == "start" else i + 1 if anchor == "end" else i + .5)
        parts.append(f"<text class='tick' x='{x:.1f}' y='{H - 6}' text-anchor='{anchor}'>"
                     f"{_when(buckets[i], span)}</text>")
    width = step * 0.8 / max(len(series), 1)
    for s, (name, vs, css) in enumerate(series):
        if kind == "bar":
            for i, v in enumerate(vs):
                if v:
                    x = x0 + step * i + step * 0.1 + width * s
                    parts.append(f"<rect class='{css}' x='{x:.1f}' y='{y(v):.1f}' width='{width:.1f}' "
                                 f"height='{y0 - y(v):.1f}'><title>{escape(name)} {_when(buckets[i], span)}: "
                                 f"{escape(_label(v, unit))}</title></rect>")
        else:
            points = [(x0 + step * (i + .5), y(v), i, v) for i, v in enumerate(vs) if v is not None]
            if len(points) > 1:
                parts.append(f"<polyline class='{css} line' points='"
                             + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points) + "'/>")
            parts += [f"<circle class='{css}' cx='{px:.1f}' cy='{py:.1f}' r='2.5'><title>{escape(name)} "
                      f"{_when(buckets[i], span)}: {escape(_label(v, unit))}</title></circle>"
                      for px, py, i, v in points]
    legend = "".join(f"<span class='key'><i class='{css}'></i>{escape(name)}</span>" for name, _, css in series)
    rows = "".join(f"<tr><td>{_when(b, span)}</td>" + "".join(
        f"<td>{'' if vs[i] is None else escape(_label(vs[i], unit))}</td>" for _, vs, _ in series) + "</tr>"
        for i, b in enumerate(buckets))
    head = "".join(f"<th>{escape(name)}</th>" for name, _, _ in series)
    return (f"<figure class='chart'><figcaption>{escape(title)} {legend}</figcaption>"
            f"<svg viewBox='0 0 {W} {H}' role='img' aria-label='{escape(title)}'>{''.join(parts)}</svg>"
            f"<details><summary>figures</summary><table><tr><th>from</th>{head}</tr>{rows}</table></details></figure>")


CSS = """
figure.chart{margin:0;padding:.6rem;border:1px solid var(--border);border-radius:6px;background:var(--panel)}
figure.chart figcaption{font-size:.85rem;font-weight:600;margin-bottom:.3rem}
figure.chart svg{width:100%;height:auto;display:block}
figure.chart details{font-size:.75rem}
.axis{stroke:var(--muted);stroke-width:1}.grid{stroke:var(--border);stroke-dasharray:3 3}
.tick{fill:var(--muted);font-size:10px}
.line{fill:none;stroke-width:1.8}
.s-ok{fill:var(--ok);stroke:var(--ok)}.s-bad{fill:var(--bad);stroke:var(--bad)}
.s-info{fill:var(--info);stroke:var(--info)}.s-warn{fill:var(--warn);stroke:var(--warn)}
polyline.s-ok,polyline.s-bad,polyline.s-info,polyline.s-warn{fill:none}
.key{font-weight:400;margin-left:.8rem;font-size:.75rem}.key i{display:inline-block;width:.7rem;height:.7rem;
margin-right:.25rem;vertical-align:-1px;border-radius:2px}
.key i.s-ok{background:var(--ok)}.key i.s-bad{background:var(--bad)}.key i.s-info{background:var(--info)}
.key i.s-warn{background:var(--warn)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.8rem;margin-bottom:1.2rem}
"""
