import { get, post } from './api.js';
import { ago, h, local, toast } from './dom.js';

export async function nodesPage(main, { every }) {
  const render = async () => {
    const nodes = await get('/api/v1/nodes');
    main.replaceChildren(
      h('h1', {}, 'Nodes'),
      h(
        'div',
        { class: 'card scroll' },
        h(
          'table',
          { id: 'nodes' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', {}, 'Health'), h('th', {}, 'Running'), h('th', { class: 'hide-narrow' }, 'Tasks'), h('th', { class: 'hide-narrow' }, 'Tags'), h('th', {}, 'Clock skew'), h('th', { class: 'hide-narrow' }, 'Started'), h('th', {}, ''))),
          h(
            'tbody',
            {},
            nodes.map((n) =>
              h(
                'tr',
                { 'data-node': n.name },
                h('td', {}, h('strong', {}, n.name), h('div', { class: 'muted' }, `${n.host} · pid ${n.pid} · v${n.version}`)),
                h('td', {}, h('span', { class: `dot ${n.alive ? 'alive' : ''}` }), n.alive ? 'alive' : 'silent', n.draining ? ', draining' : '', h('div', { class: 'muted' }, `heartbeat ${ago(n.heartbeatAt)}`)),
                h('td', {}, String(n.running)),
                h('td', { class: 'hide-narrow' }, n.tasks.join(', ')),
                h('td', { class: 'hide-narrow' }, n.tags.join(', ') || '–'),
                h('td', {}, `${n.clockSkewMs} ms`),
                h('td', { class: 'hide-narrow' }, local(n.startedAt)),
                h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: async () => {
                  try {
                    await post(`/api/v1/nodes/${encodeURIComponent(n.name)}/drain`, { draining: !n.draining });
                    toast(`${n.name} ${n.draining ? 'accepts runs again' : 'is draining'}`);
                    await render();
                  } catch (err) {
                    toast(err.message);
                  }
                } }, n.draining ? 'Undrain' : 'Drain')),
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
