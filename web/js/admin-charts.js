// The dashboard's charts: uPlot (npm package `uplot`, copied into /vendor/uplot/ by scripts/web-vendor.sh), one
// chart per box. A chart keeps its series by label; a label seen for the first time adds a series (the chart is
// drawn anew with it), so kinds, nodes and apps that appear later get their own line. Each box tells what it shows
// in data attributes: `series` (the labels), `points` (values drawn) and `peak` (the largest).

import uPlot from '../vendor/uplot/uPlot.esm.js';

const PALETTE = ['#4338ca', '#be123c', '#15803d', '#d97706', '#0891b2', '#7c3aed', '#db2777', '#65a30d', '#1d4ed8', '#b45309', '#0f766e', '#9333ea'];
const HEIGHT = 220;

/** A plain count: 1,234 or 1.5k. */
export function count(value) {
  if (value == null || Number.isNaN(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${+(value / 1e3).toFixed(1)}k`;
  return (Math.round(value * 100) / 100).toLocaleString('en');
}

/** Bytes as B, KB, MB or GB (powers of 1024). */
export function bytes(value) {
  if (value == null || Number.isNaN(value)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = value;
  let unit = 0;
  while (Math.abs(v) >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[unit]}`;
}

const cssVar = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

/**
 * One chart in `box`. `push(t, values)` adds a sample at `t` (Unix seconds) to a rolling window of `keep`
 * samples; `replace(xs, columns)` sets the whole data (the sessions of a day). `format` writes a value; `bars`
 * draws bars instead of lines; `utc` shows the time axis in UTC.
 */
export class Chart {
  constructor(box, { format = count, keep = 200, bars = false, utc = false, colors = {} } = {}) {
    this.box = box;
    this.format = format;
    this.keep = keep;
    this.bars = bars;
    this.utc = utc;
    this.colors = colors;
    this.labels = [];
    this.xs = [];
    /** @type {Map<string, (number|null)[]>} the values of each label, aligned with `xs` */
    this.columns = new Map();
    this.plot = null;
    this.drawnLabels = '';
    this.resize = new ResizeObserver(() => {
      if (this.plot && this.box.clientWidth > 0) this.plot.setSize(this.size());
    });
    this.resize.observe(box);
  }

  /** Adds a sample: `values` maps labels to numbers (a label missing now is a gap). */
  push(t, values) {
    for (const label of Object.keys(values)) {
      if (!this.columns.has(label)) {
        this.labels.push(label);
        this.columns.set(label, this.xs.map(() => null));
      }
    }
    this.xs.push(t);
    for (const label of this.labels) {
      const value = values[label];
      this.columns.get(label).push(typeof value === 'number' && Number.isFinite(value) ? value : null);
    }
    if (this.xs.length > this.keep) {
      const drop = this.xs.length - this.keep;
      this.xs.splice(0, drop);
      for (const column of this.columns.values()) column.splice(0, drop);
    }
    this.draw();
  }

  /** Replaces the data: `columns` maps labels to arrays aligned with `xs`. */
  replace(xs, columns) {
    this.xs = [...xs];
    this.columns = new Map(Object.entries(columns).map(([label, values]) => [label, [...values]]));
    this.labels = [...this.columns.keys()];
    this.draw();
  }

  size() {
    return { width: Math.max(this.box.clientWidth, 200), height: HEIGHT };
  }

  data() {
    return [this.xs, ...this.labels.map((label) => this.columns.get(label))];
  }

  color(label, index) {
    return this.colors[label] ?? PALETTE[index % PALETTE.length];
  }

  options() {
    const muted = cssVar('--muted', '#5b667a');
    const line = cssVar('--line', '#e2e7f0');
    const axis = {
      stroke: muted,
      grid: { stroke: line, width: 1 },
      ticks: { stroke: line, width: 1 },
      font: '12px system-ui, sans-serif',
    };
    const format = this.format;
    const series = this.labels.map((label, index) => {
      const color = this.color(label, index);
      const one = {
        label,
        stroke: color,
        width: 2,
        value: (u, v) => (v == null ? '–' : format(v)),
      };
      if (this.bars) {
        const side = this.labels.length === 1 ? 0 : (index % 2 === 0 ? -1 : 1);
        one.paths = uPlot.paths.bars({ size: [this.labels.length === 1 ? 0.7 : 0.4, 28], align: side });
        one.fill = `${color}cc`;
        one.points = { show: false };
      }
      return one;
    });
    const options = {
      ...this.size(),
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Number.isFinite(max) ? Math.max(max * 1.1, 1) : 1] } },
      axes: [axis, { ...axis, size: 60, values: (u, splits) => splits.map(format) }],
      series: [{ value: (u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString()) }, ...series],
    };
    if (this.utc) {
      options.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
      options.series[0].value = (u, v) => (v == null ? '–' : `${new Date(v * 1000).getUTCHours()}:00 UTC`);
    }
    return options;
  }

  /** Draws the data: a new plot when the labels changed, else the same plot with new data. */
  draw() {
    const labels = this.labels.join('\u0000');
    if (!this.plot || labels !== this.drawnLabels) {
      this.plot?.destroy();
      this.box.replaceChildren();
      this.plot = this.labels.length ? new uPlot(this.options(), this.data(), this.box) : null;
      this.drawnLabels = labels;
    } else {
      this.plot.setData(this.data());
    }
    const values = [...this.columns.values()].flat().filter((v) => v != null);
    this.box.dataset.series = this.labels.join(',');
    this.box.dataset.points = String(values.length);
    this.box.dataset.peak = String(values.length ? Math.max(...values) : 0);
  }

  destroy() {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
    this.box.replaceChildren();
  }
}
