// The demo's training plot: per-batch loss of every run on the left axis and, for a single run,
// batch accuracy on the right axis (0–1), over the planned batches on the x axis, with ticks,
// epoch boundaries and a legend outside the curves (an HTML list next to the canvas).

const MARGIN = { left: 52, right: 44, top: 10, bottom: 34 };

/** About `n` round tick values from 0 to the first one at or above `max`. */
function ticks(max, n = 5) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [0];
  while (out.at(-1) < max - step * 1e-9) out.push(+(out.at(-1) + step).toFixed(10));
  return out;
}

const fmt = (v) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : String(+v.toFixed(3)));

/**
 * Draws `runs` ([{ label, color, points: [{ loss, acc }] }]) on `canvas` over `planned`
 * batches (`perEpoch` batches per epoch) and fills `legend` (an element) with one entry per
 * curve. The canvas's aria-label states the axes.
 */
export function drawPlot(canvas, legend, runs, planned, perEpoch) {
  const g = canvas.getContext('2d');
  const { width: W, height: H } = canvas;
  const x0 = MARGIN.left, x1 = W - MARGIN.right, y0 = H - MARGIN.bottom, y1 = MARGIN.top;
  g.clearRect(0, 0, W, H);
  const all = runs.flatMap((r) => r.points);
  const lossTicks = ticks(Math.max(0.5, ...all.map((p) => p.loss).filter(Number.isFinite)));
  const maxLoss = lossTicks.at(-1);
  const xTicks = ticks(Math.max(planned, 1), 6).filter((v) => v <= planned);
  const X = (i) => x0 + (i / Math.max(planned, 1)) * (x1 - x0);
  const Y = (v, max) => y0 - (v / max) * (y0 - y1);
  g.font = '12px system-ui, sans-serif';
  g.lineWidth = 1;
  // Grid and left axis (loss).
  g.textAlign = 'right'; g.textBaseline = 'middle';
  for (const v of lossTicks) {
    g.strokeStyle = '#eee'; g.beginPath(); g.moveTo(x0, Y(v, maxLoss)); g.lineTo(x1, Y(v, maxLoss)); g.stroke();
    g.fillStyle = '#444'; g.fillText(fmt(v), x0 - 6, Y(v, maxLoss));
  }
  // Epoch boundaries.
  g.strokeStyle = '#bbb'; g.setLineDash([4, 4]);
  for (let e = perEpoch; e < planned; e += perEpoch) { g.beginPath(); g.moveTo(X(e), y0); g.lineTo(X(e), y1); g.stroke(); }
  g.setLineDash([]);
  // x axis.
  g.textAlign = 'center'; g.textBaseline = 'top';
  for (const v of xTicks) {
    g.strokeStyle = '#444'; g.beginPath(); g.moveTo(X(v), y0); g.lineTo(X(v), y0 + 4); g.stroke();
    g.fillStyle = '#444'; g.fillText(fmt(v), X(v), y0 + 6);
  }
  g.fillText('batches', (x0 + x1) / 2, y0 + 19);
  g.strokeStyle = '#444'; g.beginPath(); g.moveTo(x0, y1); g.lineTo(x0, y0); g.lineTo(x1, y0); g.stroke();
  g.save(); g.translate(12, (y0 + y1) / 2); g.rotate(-Math.PI / 2); g.textBaseline = 'top'; g.fillText('loss', 0, 0); g.restore();
  const single = runs.length === 1;
  if (single) {
    g.textAlign = 'left'; g.textBaseline = 'middle'; g.fillStyle = '#1565c0';
    for (const v of [0, 0.25, 0.5, 0.75, 1]) g.fillText(fmt(v), x1 + 6, Y(v, 1));
    g.strokeStyle = '#1565c0'; g.beginPath(); g.moveTo(x1, y1); g.lineTo(x1, y0); g.stroke();
  }
  const curve = (pts, key, max, color) => {
    if (pts.length < 1) return;
    g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(X(i + 1), Y(p[key], max)) : g.moveTo(X(i + 1), Y(p[key], max))));
    g.stroke(); g.lineWidth = 1;
  };
  for (const r of runs) curve(r.points, 'loss', maxLoss, r.color);
  if (single) curve(runs[0].points, 'acc', 1, '#1565c0');
  const entries = runs.map((r) => [r.color, `${r.label}: training loss (left axis)`]);
  if (single) entries.push(['#1565c0', 'batch accuracy (right axis, 0–1)']);
  legend.replaceChildren(...entries.map(([color, text]) => {
    const li = document.createElement('li');
    const sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = color;
    li.append(sw, text);
    return li;
  }));
  canvas.setAttribute('aria-label', `Training curves over batches 0–${planned}: loss on the left axis (0–${fmt(maxLoss)})`
    + (single ? ', batch accuracy on the right axis (0–1)' : ''));
}
