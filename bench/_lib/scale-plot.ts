/**
 * Plain SVG line charts for the scale bench (one figure against the node count N), written by the
 * bench itself into docs/ so docs/scale.md always shows the figures of the last run. No
 * dependency: a chart is a few dozen SVG elements.
 */

export interface Series { label: string, points: Array<{ x: number, y: number | null }> }

export interface ChartOptions {
  title: string
  yLabel: string
  series: Series[]
  /** a dashed horizontal line: the target */
  target?: number
  width?: number
  height?: number
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceMax (v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function fmt (v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(3).replace(/\.?0+$/, '')
}

export function lineChart (o: ChartOptions): string {
  const W = o.width ?? 520
  const H = o.height ?? 300
  const L = 64
  const R = 16
  const T = 36
  const B = 44
  const xs = [...new Set(o.series.flatMap(s => s.points.map(p => p.x)))].sort((a, b) => a - b)
  const ys = o.series.flatMap(s => s.points.flatMap(p => p.y == null ? [] : [p.y]))
  const yMax = niceMax(Math.max(...ys, o.target ?? 0, 0))
  const xMin = 0
  const xMax = niceMax(Math.max(...xs, 1))
  const px = (x: number): number => L + (x - xMin) / (xMax - xMin) * (W - L - R)
  const py = (y: number): number => H - B - y / yMax * (H - T - B)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">nodes (N)</text>`,
    `<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(o.yLabel)}</text>`
  ]
  for (let i = 0; i <= 4; i++) {
    const v = yMax * i / 4
    out.push(`<line x1="${L - 4}" y1="${py(v)}" x2="${W - R}" y2="${py(v)}" stroke="#ddd"/>`, `<text x="${L - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>`)
  }
  for (const x of xs) out.push(`<line x1="${px(x)}" y1="${H - B}" x2="${px(x)}" y2="${H - B + 4}" stroke="black"/>`, `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`)
  if (o.target != null) {
    out.push(`<line x1="${L}" y1="${py(o.target)}" x2="${W - R}" y2="${py(o.target)}" stroke="#2ca02c" stroke-dasharray="6 4"/>`,
      `<text x="${W - R - 2}" y="${py(o.target) - 4}" text-anchor="end" fill="#2ca02c">target ${fmt(o.target)}</text>`)
  }
  o.series.forEach((s, si) => {
    const c = COLORS[si % COLORS.length]!
    const pts = s.points.filter((p): p is { x: number, y: number } => p.y != null).sort((a, b) => a.x - b.x)
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(p => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`)
    for (const p of pts) out.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3.5" fill="${c}"/>`, `<text x="${px(p.x) + 5}" y="${py(p.y) - 6}" fill="${c}">${fmt(p.y)}</text>`)
    out.push(`<rect x="${L + 10}" y="${T + 4 + si * 15}" width="10" height="3" fill="${c}"/>`, `<text x="${L + 24}" y="${T + 9 + si * 15}">${esc(s.label)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
