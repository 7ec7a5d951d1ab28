/**
 * The page of `wgmesh ui`: plain TypeScript on the DOM, built by scripts/bundle.mjs into
 * bundle/ui/app.js. It follows /api/v1/events (server-sent events: the status document on every
 * change, the RTT matrix every few seconds) and draws the header, one page of the node table and
 * the heat map. The table logic is src/web/view.ts, shared with the unit tests.
 */
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import { ago, bytes } from '../../ui/format.js';
import { filterRows, heatColour, heatFromMatrix, heatRgb, heatScaleTop, pageOf, rowsFromStatus, shownTags, sortRows, type Heat, type Row, type SortDir, type SortKey } from '../view.js';

const PAGE_SIZE = 100;

interface State {
  status: InfoResponse__Output | undefined;
  rows: Row[];
  heat: Heat | undefined;
  partial: boolean;
  query: string;
  internal: boolean;
  sortKey: SortKey;
  sortDir: SortDir;
  page: number;
  live: 'connecting' | 'ok' | 'down';
  liveText: string;
}

const state: State = {
  status: undefined,
  rows: [],
  heat: undefined,
  partial: false,
  query: '',
  internal: false,
  sortKey: 'name',
  sortDir: 'asc',
  page: 0,
  live: 'connecting',
  liveText: 'connecting\u2026',
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// --- header -----------------------------------------------------------------------------------

function age(ms: number): string {
  if (!ms) return '\u2013';
  const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function renderHeader(): void {
  const s = state.status;
  const live = $('live');
  live.className = `live ${state.live}`;
  $('live-text').textContent = state.liveText;
  if (!s) return;
  document.title = `${s.meshName} \u2013 wgmesh`;
  $('mesh-name').textContent = s.meshName;
  $('mesh-cidr').textContent = s.meshCidr;
  $('mesh-age').textContent = age(Number(s.meshCreatedMs));
  const counts = new Map<string, number>();
  for (const r of state.rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const unwell = [...counts].filter(([k]) => k !== 'alive').map(([k, n]) => `${n} ${k}`);
  $('mesh-count').textContent = `${state.rows.length}${unwell.length ? ` (${unwell.join(', ')})` : ''}`;
  $('mesh-self').textContent = `${s.nodeName} \u00b7 ${s.meshIp}`;
}

// --- table ------------------------------------------------------------------------------------

function tagsHtml(tags: Readonly<Record<string, string>>): string {
  return shownTags(tags, state.internal)
    .map(([k, v]) => `<span class="tag${k.startsWith('_') ? ' internal' : ''}" data-tag="${esc(k)}"><b>${esc(k)}</b>${v === '' ? '' : `=${esc(v)}`}</span>`)
    .join('');
}

function rowHtml(r: Row, now: number): string {
  const badges = (r.isSelf ? '<span class="badge">this node</span>' : '') + (r.isBootstrap ? '<span class="badge boot">bootstrap</span>' : '');
  const rtt = r.rttMs > 0 ? `${r.rttMs.toFixed(2)} ms${r.loss > 0 ? ` <span class="muted">(${Math.round(r.loss * 100)}% loss)</span>` : ''}` : '<span class="muted">\u2013</span>';
  const traffic = r.isSelf ? '<span class="muted">\u2013</span>' : `${bytes(r.rxBytes)} / ${bytes(r.txBytes)}`;
  const handshake = r.isSelf ? '<span class="muted">\u2013</span>' : esc(ago(r.handshakeMs, now));
  const pathClass = r.path.startsWith('via ') ? 'path via' : 'path';
  return (
    `<tr data-node="${esc(r.name)}"${r.isSelf ? ' class="self"' : ''}>` +
    `<td class="c-name">${esc(r.name)}${badges}</td>` +
    `<td class="c-ip">${esc(r.meshIp)}</td>` +
    `<td class="c-status"><span class="status ${esc(r.status)}">${esc(r.status)}</span></td>` +
    `<td class="c-path"><span class="${pathClass}">${esc(r.path)}</span></td>` +
    `<td class="c-endpoint">${r.endpoint ? esc(r.endpoint) : '<span class="muted">\u2013</span>'}</td>` +
    `<td class="c-handshake">${handshake}</td>` +
    `<td class="c-rtt num" data-rtt="${r.rttMs}">${rtt}</td>` +
    `<td class="c-traffic num">${traffic}</td>` +
    `<td class="c-tags">${tagsHtml(r.tags)}</td>` +
    '</tr>'
  );
}

function renderTable(): void {
  const matching = sortRows(filterRows(state.rows, state.query, state.internal), state.sortKey, state.sortDir, state.internal);
  const page = pageOf(matching, state.page, PAGE_SIZE);
  state.page = page.page;
  const now = Date.now();
  const body = document.querySelector('#nodes tbody') as HTMLTableSectionElement;
  body.innerHTML = page.items.map((r) => rowHtml(r, now)).join('');
  $('empty').hidden = page.total > 0 || state.rows.length === 0;
  $('counts').textContent = state.query ? `${page.total} of ${state.rows.length} nodes match` : `${state.rows.length} nodes`;
  $('page-info').textContent = page.total ? `${page.first}\u2013${page.last} of ${page.total}` : '';
  ($('prev') as HTMLButtonElement).disabled = page.page === 0;
  ($('next') as HTMLButtonElement).disabled = page.page >= page.pages - 1;
  for (const th of document.querySelectorAll<HTMLElement>('#nodes th[data-sort]')) {
    if (th.dataset.sort === state.sortKey) th.setAttribute('aria-sort', state.sortDir === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
}

// --- heat map ---------------------------------------------------------------------------------

interface HeatLayout {
  cell: number;
  left: number;
  top: number;
}
let heatLayout: HeatLayout | undefined;

function renderHeat(): void {
  const heat = state.heat;
  const canvas = $('heat') as HTMLCanvasElement;
  const n = heat?.nodes.length ?? 0;
  $('matrix-note').textContent = !heat
    ? 'waiting for the matrix\u2026'
    : `${n} nodes; row: measuring node, column: node measured${state.partial ? ' (only this node\'s row: the bootstrap could not be asked)' : ''}`;
  const scaleTop = heatScaleTop(heat?.max ?? 0);
  $('legend-max').textContent = `${scaleTop.toFixed(0)} ms or more`;
  const ctx = canvas.getContext('2d');
  if (!heat || n === 0 || !ctx) {
    canvas.width = canvas.height = 1;
    heatLayout = undefined;
    return;
  }
  // One pixel a pair at worst: 1,000 nodes make a 1000x1000 map.
  const cell = Math.max(1, Math.min(44, Math.floor(720 / n)));
  const labels = cell >= 12;
  ctx.font = '12px system-ui, sans-serif';
  const labelWidth = labels ? Math.ceil(Math.max(...heat.nodes.map((name) => ctx.measureText(name).width))) + 10 : 0;
  const left = labelWidth;
  const top = labels ? labelWidth : 0;
  const width = left + n * cell;
  const height = top + n * cell;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.ceil(width * dpr);
  canvas.height = Math.ceil(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  const gap = cell >= 8 ? 1 : 0;
  if (n > 150) {
    // Many nodes: one pixel a pair in an image, scaled up (a million fillRect calls would not do).
    const image = new ImageData(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const [r, g, b] = i === j ? [248, 250, 252] : heatRgb(heat.rtt[i]![j]!, scaleTop);
        const at = (i * n + j) * 4;
        image.data[at] = r;
        image.data[at + 1] = g;
        image.data[at + 2] = b;
        image.data[at + 3] = 255;
      }
    }
    const off = document.createElement('canvas');
    off.width = off.height = n;
    off.getContext('2d')!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, left, top, n * cell, n * cell);
  } else {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        ctx.fillStyle = i === j ? '#f8fafc' : heatColour(heat.rtt[i]![j]!, scaleTop);
        ctx.fillRect(left + j * cell, top + i * cell, cell - gap, cell - gap);
        if (cell >= 40 && i !== j && heat.rtt[i]![j]! > 0) {
          ctx.fillStyle = '#0f172a';
          ctx.textAlign = 'center';
          ctx.textBaseline = 'middle';
          ctx.fillText(heat.rtt[i]![j]!.toFixed(heat.rtt[i]![j]! < 10 ? 2 : 1), left + j * cell + (cell - gap) / 2, top + i * cell + (cell - gap) / 2, cell - 4);
        }
      }
    }
  }
  if (labels) {
    ctx.fillStyle = '#334155';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    heat.nodes.forEach((name, i) => ctx.fillText(name, left - 6, top + i * cell + cell / 2));
    ctx.save();
    ctx.textAlign = 'left';
    heat.nodes.forEach((name, j) => {
      ctx.save();
      ctx.translate(left + j * cell + cell / 2, top - 6);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(name, 0, 0);
      ctx.restore();
    });
    ctx.restore();
  }
  heatLayout = { cell, left, top };
  // For tests and scripts: how many of the pairs have a figure.
  canvas.dataset.pairs = String(n * (n - 1));
  canvas.dataset.measured = String(heat.rtt.reduce((sum, row, i) => sum + row.filter((ms, j) => i !== j && ms > 0).length, 0));
}

function onHeatMove(e: MouseEvent): void {
  const tip = $('heat-tip');
  const heat = state.heat;
  if (!heat || !heatLayout) return;
  const canvas = e.currentTarget as HTMLCanvasElement;
  const box = canvas.getBoundingClientRect();
  const j = Math.floor((e.clientX - box.left - heatLayout.left) / heatLayout.cell);
  const i = Math.floor((e.clientY - box.top - heatLayout.top) / heatLayout.cell);
  if (i < 0 || j < 0 || i >= heat.nodes.length || j >= heat.nodes.length || i === j) {
    tip.hidden = true;
    return;
  }
  const ms = heat.rtt[i]![j]!;
  const loss = heat.loss[i]![j]!;
  tip.textContent = `${heat.nodes[i]} \u2192 ${heat.nodes[j]}: ${ms > 0 ? `${ms.toFixed(2)} ms` : 'not measured'}${loss > 0 ? `, ${Math.round(loss * 100)}% loss` : ''}`;
  tip.hidden = false;
  const wrap = canvas.parentElement!.getBoundingClientRect();
  tip.style.left = `${e.clientX - wrap.left + 12}px`;
  tip.style.top = `${e.clientY - wrap.top + 12}px`;
}

// --- wiring -----------------------------------------------------------------------------------

let frame = 0;
function render(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderHeader();
    renderTable();
  });
}

function connect(): void {
  const events = new EventSource('/api/v1/events');
  events.addEventListener('status', (e) => {
    state.status = JSON.parse((e as MessageEvent<string>).data) as InfoResponse__Output;
    state.rows = rowsFromStatus(state.status);
    state.live = 'ok';
    state.liveText = 'live';
    render();
  });
  events.addEventListener('rtt', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as RttResponse__Output;
    state.heat = heatFromMatrix(m);
    state.partial = m.partial;
    renderHeat();
  });
  events.addEventListener('unreachable', (e) => {
    state.live = 'down';
    state.liveText = `node unreachable: ${(JSON.parse((e as MessageEvent<string>).data) as { message: string }).message}`;
    render();
  });
  events.addEventListener('error', () => {
    // EventSource reconnects by itself (the server asks for 1 s).
    state.live = 'down';
    state.liveText = 'wgmesh ui is not answering; retrying\u2026';
    render();
  });
}

function sortBy(key: SortKey): void {
  if (state.sortKey === key) state.sortDir = state.sortDir === 'asc' ? 'desc' : 'asc';
  else {
    state.sortKey = key;
    state.sortDir = 'asc';
  }
  state.page = 0;
  render();
}

function main(): void {
  const search = $('search') as HTMLInputElement;
  const params = new URLSearchParams(location.search);
  search.value = state.query = params.get('q') ?? '';
  search.addEventListener('input', () => {
    state.query = search.value;
    state.page = 0;
    render();
  });
  const internal = $('internal') as HTMLInputElement;
  internal.addEventListener('change', () => {
    state.internal = internal.checked;
    render();
  });
  for (const th of document.querySelectorAll<HTMLElement>('#nodes th[data-sort]')) th.addEventListener('click', () => sortBy(th.dataset.sort as SortKey));
  $('prev').addEventListener('click', () => {
    state.page--;
    render();
  });
  $('next').addEventListener('click', () => {
    state.page++;
    render();
  });
  $('heat').addEventListener('mousemove', onHeatMove);
  $('heat').addEventListener('mouseleave', () => ($('heat-tip').hidden = true));
  // Ages and handshakes move with the clock.
  setInterval(render, 1000);
  render();
  connect();
}

main();
