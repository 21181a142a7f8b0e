// A canvas to draw an item on (white on black, as Fashion-MNIST stores them) and read it back
// as a 28×28 image in [0, 1].

/** Makes `canvas` drawable with a mouse, pen or finger; returns `{ clear, image }`. */
export function drawingPad(canvas) {
  const g = canvas.getContext('2d');
  const clear = () => { g.fillStyle = '#000'; g.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
  };
  canvas.addEventListener('pointerdown', (e) => { canvas.setPointerCapture(e.pointerId); last = at(e); });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = at(e);
    g.strokeStyle = '#fff'; g.lineWidth = canvas.width / 10; g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath(); g.moveTo(...last); g.lineTo(...p); g.stroke();
    last = p;
  });
  for (const ev of ['pointerup', 'pointercancel', 'pointerleave']) canvas.addEventListener(ev, () => { last = null; });
  /** The drawing averaged down to 28×28, values in [0, 1], row-major. */
  const image = () => {
    const { data } = g.getImageData(0, 0, canvas.width, canvas.height);
    const s = canvas.width / 28, out = new Float32Array(784);
    for (let y = 0; y < canvas.height; y++) {
      for (let x = 0; x < canvas.width; x++) out[Math.floor(y / s) * 28 + Math.floor(x / s)] += data[(y * canvas.width + x) * 4] / 255;
    }
    for (let i = 0; i < 784; i++) out[i] /= s * s;
    return out;
  };
  return { clear, image };
}
