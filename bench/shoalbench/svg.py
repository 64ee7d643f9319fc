"""A small SVG writer for grouped bar charts (no plotting library needed)."""

import math
from xml.sax.saxutils import escape

PALETTE = ["#2b6cb0", "#c53030", "#2f855a", "#b7791f", "#6b46c1", "#718096"]


def nice_ceiling(v):
    """The next 'round' number >= v (1, 2, 2.5, 5 × 10^k) for an axis maximum."""
    if v <= 0:
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        c = m * 10 ** exp
        if c >= v * (1 - 1e-9):
            return float(c)
    return float(10 ** (exp + 1))


def fmt(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.3g" % v


def bar_chart(title, categories, series, y_label="", width=720, height=400):
    """series: list of (name, [value or None per category]). Returns the SVG text."""
    left, right, top, bottom = 70, 20, 50, 70
    pw, ph = width - left - right, height - top - bottom
    vals = [v for _, vs in series for v in vs if v is not None]
    ymax = nice_ceiling(max(vals) if vals else 1.0)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">' % (width, height, width, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="%d" y="24" font-size="16" text-anchor="middle">%s</text>' % (width // 2, escape(title)),
    ]
    ticks = 5
    for i in range(ticks + 1):
        v = ymax * i / ticks
        y = top + ph - ph * i / ticks
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e2e8f0"/>' % (left, y, left + pw, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 6, y + 4, fmt(v)))
    out.append(
        '<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>'
        % (top + ph // 2, escape(y_label))
    )
    n = max(1, len(categories))
    group_w = pw / n
    bar_w = group_w * 0.8 / max(1, len(series))
    for ci, cat in enumerate(categories):
        gx = left + ci * group_w + group_w * 0.1
        for si, (_, vs) in enumerate(series):
            v = vs[ci] if ci < len(vs) else None
            x = gx + si * bar_w
            if v is None:
                out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#718096">n/a</text>'
                           % (x + bar_w / 2, top + ph - 4))
                continue
            h = ph * v / ymax
            out.append(
                '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>'
                % (x, top + ph - h, bar_w - 2, h, PALETTE[si % len(PALETTE)], escape(fmt(v)))
            )
            out.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>'
                       % (x + bar_w / 2, top + ph - h - 3, escape(fmt(v))))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (left + ci * group_w + group_w / 2, top + ph + 18, escape(str(cat))))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (left, top + ph, left + pw, top + ph))
    lx = left
    for si, (name, _) in enumerate(series):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   % (lx, height - 26, PALETTE[si % len(PALETTE)]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 16, height - 16, escape(name)))
        lx += 30 + 8 * len(name)
    out.append("</svg>")
    return "\n".join(out) + "\n"
