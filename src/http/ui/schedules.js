import { get, post } from './api.js';
import { h, local, runsTable, toast, viewerZone } from './dom.js';

export async function scheduleList(main, { every }) {
  const render = async () => {
    const list = await get('/api/v1/schedules');
    main.replaceChildren(
      h('h1', {}, 'Schedules'),
      h(
        'div',
        { class: 'card scroll' },
        h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'When'), h('th', { class: 'hide-narrow' }, 'Task'), h('th', {}, 'State'), h('th', {}, 'Next'))),
          h(
            'tbody',
            {},
            list.map((s) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/schedules/${encodeURIComponent(s.name)}` }, s.name)),
                h('td', {}, `${s.expr} (${s.timezone})`),
                h('td', { class: 'hide-narrow' }, s.task),
                h('td', {}, !s.enabled ? 'removed' : s.paused ? 'paused' : 'active'),
                h('td', {}, local(s.next)),
              ),
            ),
          ),
        ),
      ),
    );
  };
  await render();
  every(5000, render);
}

const zoneFmt = (zone) => new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });

export async function schedulePage(main, { every, params, go }) {
  const name = decodeURIComponent(params[0]);
  const path = `/api/v1/schedules/${encodeURIComponent(name)}`;
  const render = async () => {
    const [s, next, page] = await Promise.all([get(path), get(`${path}/next?n=5`), get(`/api/v1/runs?schedule=${encodeURIComponent(name)}&limit=50`)]);
    const inZone = zoneFmt(s.timezone);
    const inViewer = zoneFmt(viewerZone);
    const runNow = h('button', { type: 'button', id: 'run-now', onclick: async () => {
      runNow.disabled = true;
      try {
        const fire = await post(`${path}/trigger`);
        const r = fire.runs[0];
        toast(r ? `Run #${r.id} ${r.status}${r.reason ? ` (${r.reason})` : ''}` : 'Fired');
        if (r) go(`#/runs/${r.id}`);
      } catch (err) {
        toast(err.message);
        runNow.disabled = false;
      }
    } }, 'Run now');
    const pause = h('button', { type: 'button', id: 'pause', class: 'secondary', onclick: async () => {
      try {
        await post(`${path}/${s.paused ? 'resume' : 'pause'}`);
        toast(s.paused ? `${name} resumed` : `${name} paused`);
        await render();
      } catch (err) {
        toast(err.message);
      }
    } }, s.paused ? 'Resume' : 'Pause');
    main.replaceChildren(
      h('h1', {}, name, ' ', h('span', { class: 'muted', id: 'state' }, !s.enabled ? '(removed from config)' : s.paused ? '(paused)' : '(active)')),
      h('div', { class: 'actions' }, runNow, pause),
      h(
        'div',
        { class: 'grid' },
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Definition'),
          h(
            'dl',
            { class: 'meta' },
            [['When', s.expr], ['Zone', s.timezone], ['Task', s.task], ['Target', s.target], ['Concurrency', s.concurrency], ['Misfire', s.misfire], ['Retries', `${s.retries.max}`], ['Source', s.source]].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
          ),
        ),
        h(
          'section',
          { class: 'card', id: 'next' },
          h('h2', {}, 'Next instants'),
          h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              {},
              h('thead', {}, h('tr', {}, h('th', {}, `In ${s.timezone}`), h('th', {}, `Yours (${viewerZone})`))),
              h('tbody', {}, next.instants.map((i) => h('tr', {}, h('td', {}, inZone.format(new Date(i.at))), h('td', {}, inViewer.format(new Date(i.at)))))),
            ),
          ),
        ),
        h('section', { class: 'card wide', id: 'history' }, h('h2', {}, 'History'), runsTable(page.runs, { showSchedule: false })),
      ),
    );
  };
  await render();
  every(3000, render);
}
