import { get } from './api.js';
import { BAD, FINAL, ago, clock, h, runsTable } from './dom.js';

/** The next hour's fires, one row per schedule, each fire a dot placed by its minute. */
function timeline(up) {
  const from = Date.parse(up.from);
  const span = Date.parse(up.to) - from;
  const bySchedule = new Map();
  for (const f of up.fires) {
    if (!bySchedule.has(f.schedule)) bySchedule.set(f.schedule, []);
    bySchedule.get(f.schedule).push(Date.parse(f.at));
  }
  if (bySchedule.size === 0) return h('p', { class: 'muted' }, 'Nothing fires in the next hour.');
  const rows = [...bySchedule].slice(0, 20).map(([name, times]) => {
    const track = h('div', { class: 'tl-track' });
    for (const t of times) {
      const dot = h('span', { class: 'tl-fire', title: `${name} at ${clock(new Date(t).toISOString())}` });
      dot.style.left = `${((t - from) / span) * 100}%`;
      track.append(dot);
    }
    return h('div', { class: 'tl-row', 'data-schedule': name }, h('a', { class: 'tl-name', href: `#/schedules/${encodeURIComponent(name)}` }, name), track);
  });
  const minutes = Math.round(span / 60_000);
  const axis = h('div', { class: 'tl-axis' }, h('span', {}, 'now'), h('span', {}, `+${Math.round(minutes / 2)} min`), h('span', {}, `+${minutes} min`));
  return h('div', { class: 'timeline' }, rows, axis, up.truncated.length ? h('p', { class: 'muted' }, `More fires than shown for: ${up.truncated.join(', ')}`) : null);
}

/** A schedule is failing when its latest finished run failed, timed out or was lost. */
function failing(runs) {
  const latest = new Map();
  for (const r of runs) if (FINAL.includes(r.status) && r.status !== 'skipped' && !latest.has(r.schedule)) latest.set(r.schedule, r);
  return [...latest.values()].filter((r) => BAD.includes(r.status));
}

function nodesCard(nodes) {
  if (nodes.length === 0) return h('p', { class: 'muted' }, 'No nodes registered.');
  return h(
    'ul',
    { class: 'nodes' },
    nodes.map((n) =>
      h('li', { 'data-node': n.name }, h('span', { class: `dot ${n.alive ? 'alive' : ''}` }), h('strong', {}, n.name), ` — ${n.alive ? 'alive' : 'silent'}${n.draining ? ', draining' : ''}, ${n.running} running, heartbeat ${ago(n.heartbeatAt)}`),
    ),
  );
}

export async function dashboard(main, { every }) {
  const render = async () => {
    const [up, page, nodes] = await Promise.all([get('/api/v1/upcoming?minutes=60'), get('/api/v1/runs?limit=200'), get('/api/v1/nodes')]);
    const bad = failing(page.runs);
    main.replaceChildren(
      h('h1', {}, 'Dashboard'),
      h(
        'div',
        { class: 'grid' },
        h('section', { class: 'card wide', id: 'timeline' }, h('h2', {}, 'Next hour'), timeline(up)),
        h(
          'section',
          { class: 'card wide', id: 'recent' },
          h('h2', {}, 'Recent runs'),
          h('div', { class: 'strip' }, page.runs.slice(0, 60).reverse().map((r) => h('a', { class: r.status, href: `#/runs/${r.id}`, title: `#${r.id} ${r.schedule}: ${r.status}` }))),
          h('div', { class: 'spacer' }),
          runsTable(page.runs.slice(0, 10)),
        ),
        h(
          'section',
          { class: 'card', id: 'failing' },
          h('h2', {}, 'Failing schedules'),
          bad.length === 0
            ? h('p', { class: 'muted' }, 'None: every schedule\'s latest run is fine.')
            : h('ul', {}, bad.map((r) => h('li', {}, h('a', { href: `#/schedules/${encodeURIComponent(r.schedule)}` }, r.schedule), ' — ', h('a', { href: `#/runs/${r.id}` }, `#${r.id} ${r.status.replace('_', ' ')}`), ` ${ago(r.finishedAt)}`))),
        ),
        h('section', { class: 'card', id: 'node-health' }, h('h2', {}, 'Nodes'), nodesCard(nodes)),
      ),
    );
  };
  await render();
  every(3000, render);
}
