// Small DOM helpers: elements are built with textContent, never innerHTML, so names and output
// from the store can never inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const FINAL = ['succeeded', 'failed', 'timed_out', 'lost', 'cancelled', 'skipped'];
export const BAD = ['failed', 'timed_out', 'lost'];

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const fmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** An instant in the viewer's zone. */
export const local = (iso) => (iso ? fmt.format(new Date(iso)) : '–');
export const clock = (iso) => (iso ? timeFmt.format(new Date(iso)) : '–');

export function ago(iso) {
  if (!iso) return '–';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Math.abs(s) < 60) return s >= 0 ? `${s}s ago` : `in ${-s}s`;
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return m >= 0 ? `${m} min ago` : `in ${-m} min`;
  const hr = Math.round(m / 60);
  return hr >= 0 ? `${hr} h ago` : `in ${-hr} h`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export const status = (s) => h('span', { class: `status ${s}`, 'data-status': s }, s.replace('_', ' '));

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 4000);
}

export function runsTable(runs, { showSchedule = true } = {}) {
  if (runs.length === 0) return h('p', { class: 'muted' }, 'No runs yet.');
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'runs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Run'), showSchedule && h('th', {}, 'Schedule'), h('th', {}, 'Status'), h('th', {}, 'Scheduled'), h('th', { class: 'hide-narrow' }, 'Node'), h('th', { class: 'hide-narrow' }, 'Duration'))),
      h(
        'tbody',
        {},
        runs.map((r) =>
          h(
            'tr',
            { 'data-run': r.id },
            h('td', {}, h('a', { href: `#/runs/${r.id}` }, `#${r.id}`), r.attempt > 1 ? ` (try ${r.attempt})` : '', r.manual ? ' ▸' : ''),
            showSchedule && h('td', {}, h('a', { href: `#/schedules/${encodeURIComponent(r.schedule)}` }, r.schedule)),
            h('td', {}, status(r.status)),
            h('td', { title: r.scheduledAt }, local(r.scheduledAt)),
            h('td', { class: 'hide-narrow' }, r.node ?? '–'),
            h('td', { class: 'hide-narrow' }, duration(r.durationMs)),
          ),
        ),
      ),
    ),
  );
}
