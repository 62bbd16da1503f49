// The chart of a `make bench` report, as a standalone SVG: the latency CDF of each monitor
// (log time axis) and the overhead of each monitor as a ratio to no monitor (log axis, since
// auditd's ratio is an order of magnitude beyond the others'). Plain string building: no
// dependency for a picture made of lines, rectangles and text.

const COLORS = { auditd: '#c0392b', inotify: '#7f8c8d', loader: '#2471a3', fimctl: '#1e8449' };
const W = 1000;
const H = 500;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x) => Number(x.toFixed(1));

function text(x, y, s, { size = 12, anchor = 'start', color = '#222', weight = 'normal', rotate = null } = {}) {
  const tr = rotate === null ? '' : ` transform="rotate(${rotate} ${num(x)} ${num(y)})"`;
  return `<text x="${num(x)}" y="${num(y)}" font-size="${size}" text-anchor="${anchor}" fill="${color}" font-weight="${weight}"${tr} ${FONT}>${esc(s)}</text>`;
}

function line(x1, y1, x2, y2, color = '#ccc', width = 1) {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" stroke="${color}" stroke-width="${width}"/>`;
}

function usLabel(us) {
  const short = (x) => String(Number(x.toPrecision(x >= 100 ? 3 : 2)));
  if (us >= 1e6) return `${short(us / 1e6)} s`;
  if (us >= 1e3) return `${short(us / 1e3)} ms`;
  return `${short(us)} µs`;
}

// ---- latency CDF -------------------------------------------------------------------------------

function cdfPanel(data, x0, y0, w, h) {
  const out = [];
  const all = data.latency.flatMap((m) => (m.lat.length ? [m.lat[0], m.lat[m.lat.length - 1]] : []));
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all, 10))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 1000)));
  const lx = (us) => x0 + ((Math.log10(Math.max(us, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * w;
  const ly = (q) => y0 + h - q * h;
  out.push(text(x0 + w / 2, y0 - 14, `Latency, syscall to consumer, at ${data.latencyRate.toLocaleString('en-US')} ops/s`, { size: 14, anchor: 'middle', weight: 'bold' }));
  for (let q = 0; q <= 1.0001; q += 0.25) {
    out.push(line(x0, ly(q), x0 + w, ly(q), q === 0 ? '#888' : '#e5e5e5'));
    out.push(text(x0 - 6, ly(q) + 4, `${Math.round(q * 100)}%`, { size: 11, anchor: 'end', color: '#555' }));
  }
  for (let t = lo; t <= hi; t *= 10) {
    out.push(line(lx(t), y0, lx(t), y0 + h, t === lo ? '#888' : '#e5e5e5'));
    out.push(text(lx(t), y0 + h + 16, usLabel(t), { size: 11, anchor: 'middle', color: '#555' }));
  }
  out.push(line(x0, ly(0.99), x0 + w, ly(0.99), '#bbb'));
  out.push(text(x0 + 4, ly(0.99) - 3, 'p99', { size: 10, color: '#888' }));
  out.push(text(x0 + w / 2, y0 + h + 34, 'latency (log scale)', { size: 12, anchor: 'middle', color: '#444' }));
  out.push(text(x0 - 42, y0 + h / 2, 'share of ops', { size: 12, anchor: 'middle', color: '#444', rotate: -90 }));
  for (const m of data.latency) {
    const n = m.lat.length;
    if (!n) continue;
    // at most ~400 points: every quantile step, and the whole tail above p99
    const pts = [];
    const step = Math.max(1, Math.floor(n / 300));
    for (let i = 0; i < n; i += i >= n * 0.99 ? 1 : step) pts.push(`${num(lx(m.lat[i]))},${num(ly((i + 1) / n))}`);
    pts.push(`${num(lx(m.lat[n - 1]))},${num(ly(1))}`);
    out.push(`<polyline fill="none" stroke="${COLORS[m.id] ?? '#000'}" stroke-width="2" points="${pts.join(' ')}"/>`);
  }
  // the legend goes under the axis, two to a row: the curves fill the plot's corners
  data.latency.forEach((m, i) => {
    const lgx = x0 - 40 + (i % 2) * 210;
    const lgy = y0 + h + 56 + 16 * (i >> 1);
    const label = `${m.label}, p99 ${Number.isFinite(m.p99) ? usLabel(m.p99) : 'n/a'}`;
    out.push(line(lgx, lgy - 4, lgx + 18, lgy - 4, COLORS[m.id] ?? '#000', 3));
    out.push(text(lgx + 22, lgy, label, { size: 11 }));
  });
  return out;
}

// ---- overhead bars -----------------------------------------------------------------------------

function barsPanel(data, x0, y0, w, h) {
  const out = [];
  const { groups, monitors } = data.overhead;
  const max = Math.max(2, ...groups.flatMap((g) => Object.values(g.ratios).filter(Number.isFinite)));
  const ticks = [1, 1.5, 2, 5, 10, 20, 50, 100, 200].filter((t) => t <= max * 1.5);
  const top = ticks[ticks.length - 1] < max ? max * 1.2 : ticks[ticks.length - 1];
  const ly = (r) => y0 + h - (Math.log(Math.max(r, 1)) / Math.log(top)) * h;
  out.push(text(x0 + w / 2, y0 - 14, 'Overhead: time per op, ratio to no monitor', { size: 14, anchor: 'middle', weight: 'bold' }));
  for (const t of ticks) {
    out.push(line(x0, ly(t), x0 + w, ly(t), t === 1 ? '#888' : '#e5e5e5'));
    out.push(text(x0 - 6, ly(t) + 4, `${t}x`, { size: 11, anchor: 'end', color: '#555' }));
  }
  out.push(text(x0 - 42, y0 + h / 2, 'ratio (log scale)', { size: 12, anchor: 'middle', color: '#444', rotate: -90 }));
  const gw = w / groups.length;
  const bw = Math.min(34, (gw - 24) / monitors.length);
  groups.forEach((g, gi) => {
    const gx = x0 + gi * gw + (gw - bw * monitors.length) / 2;
    monitors.forEach((m, mi) => {
      const r = g.ratios[m.id];
      if (!Number.isFinite(r)) return;
      const x = gx + mi * bw;
      out.push(`<rect x="${num(x + 2)}" y="${num(ly(r))}" width="${num(bw - 4)}" height="${num(ly(1) - ly(r))}" fill="${COLORS[m.id] ?? '#000'}"/>`);
      out.push(text(x + bw / 2, ly(r) - 4, `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}x`, { size: 9, anchor: 'middle', color: '#333' }));
    });
    g.label.split('\n').forEach((l, li) => out.push(text(x0 + gi * gw + gw / 2, y0 + h + 16 + 14 * li, l, { size: 11, anchor: 'middle', color: '#444' })));
  });
  let lx = x0 + 8;
  for (const m of monitors) {
    out.push(`<rect x="${num(lx)}" y="${num(y0 + h + 50)}" width="12" height="12" fill="${COLORS[m.id] ?? '#000'}"/>`);
    out.push(text(lx + 16, y0 + h + 60, m.label, { size: 11 }));
    lx += 24 + m.label.length * 7.5;
  }
  return out;
}

export function chartSvg(data) {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    text(W / 2, 26, data.title, { size: 16, anchor: 'middle', weight: 'bold' }),
    ...cdfPanel(data, 80, 80, 360, 290),
    ...barsPanel(data, 565, 80, 415, 290),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
