/*
 * The administrators' live dashboard (docs/admin.md, "The dashboard").  Plain ES2020, no
 * framework, no build step: the page is served under Content-Security-Policy default-src 'self',
 * so nothing here is inline and the DOM is built with createElement/textContent (never
 * innerHTML: every string shown comes from the network).
 *
 * One EventSource on /v1/events drives it: `hello` (the gateway's departments, peers and
 * services) draws the flow picture; `stats` (cumulative counters, every second) updates it, the
 * totals and the queues, with rates from the difference between consecutive stats; `record`,
 * `transition` and `delivery` feed the ticker and trigger (debounced) re-queries of the
 * transitions and the dead letters.  The instances and the certificates panels poll GET /v1/cluster
 * and GET /v1/certificates.  ID numbers are shown only as the server masks them, and an
 * ID number typed into the search box is cleared at once and shown masked.
 */
'use strict';

(() => {
  const DEPARTMENTS = {
    mca: { zh: '民政', en: 'civil affairs' },
    hrss: { zh: '人社', en: 'HR & social security' },
    health: { zh: '卫健', en: 'health commission' },
    cdpf: { zh: '残联', en: 'disability federation' },
  };
  const REGIONS = { 11: '北京 Beijing', 12: '天津 Tianjin', 13: '河北 Hebei', 1310: '廊坊 Langfang' }; // GB/T 2260
  const TICKER_MAX = 50;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ID_NUMBER = /^[0-9]{17}[0-9Xx]$/;

  const state = {
    hello: null,
    services: new Map(), // code -> name
    prev: null, // the previous stats event
    lastDeadTotal: null,
    source: null,
    reconnectTimer: 0,
  };

  // ---- small helpers ----

  const $ = (sel) => document.querySelector(sel);

  /* el('td', {class: 'num', dataset: {id: 3}}, 'text', childNode, ...) */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const c of children) append(e, c);
    return e;
  }
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    for (const c of children) append(e, c);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
      else if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(parent, c) {
    if (c === undefined || c === null || c === false) return;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  }

  /* Masks an ID number as the gateway does (first 6, 8 stars, last 4), and any run of 15 or
   * more digits inside free text: a guard for text that should already be masked. */
  function maskId(id) {
    return id.length === 18 ? id.slice(0, 6) + '********' + id.slice(14) : '*'.repeat(id.length);
  }
  function scrub(text) {
    return String(text).replace(/(?<![0-9A-Za-z])[0-9]{14,}[0-9Xx](?![0-9A-Za-z])/g,
      (m) => m.slice(0, 6) + '*'.repeat(m.length - 10) + m.slice(-4));
  }

  function deptLabel(id) {
    const d = DEPARTMENTS[id];
    return d ? `${d.zh} ${id}` : id;
  }
  function serviceName(code) {
    return state.services.get(code) || '';
  }

  /* Fen (an integer) as yuan with two decimals, by integer arithmetic: never a float for money. */
  function yuan(fen) {
    if (fen === null || fen === undefined || fen === '') return '';
    let n;
    try {
      n = BigInt(fen);
    } catch (_) {
      return String(fen);
    }
    const neg = n < 0n;
    if (neg) n = -n;
    const whole = (n / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const cents = (n % 100n).toString().padStart(2, '0');
    return `${neg ? '-' : ''}${whole}.${cents}`;
  }

  /* Instants come as RFC 3339 text or as microseconds since the epoch (the message trace). */
  function toDate(v) {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v === 'number') return new Date(v > 1e14 ? v / 1000 : v > 1e11 ? v : v * 1000);
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  /* Calendar dates come as "YYYY-MM-DD" or as day numbers (days since 1970-01-01: the trace). */
  function dateText(v) {
    if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 1e6) return new Date(v * 86400000).toISOString().slice(0, 10);
    return v === null || v === undefined ? '' : String(v);
  }
  function pad(n, w = 2) {
    return String(n).padStart(w, '0');
  }
  function timeText(v) {
    const d = toDate(v);
    if (!d) return v === null || v === undefined ? '' : String(v);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function clockText(v) {
    const d = toDate(v) || new Date();
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function timeCell(v) {
    const d = toDate(v);
    return el('td', { class: 'time', title: d ? d.toISOString() : null }, timeText(v));
  }
  function age(seconds) {
    if (!seconds || seconds <= 0) return '—';
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
    return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
  }
  function rateText(r) {
    if (!r) return '0/s';
    return r >= 10 ? `${Math.round(r)}/s` : `${r.toFixed(1)}/s`;
  }
  function num(v) {
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  }
  function setText(sel, text) {
    const e = $(sel);
    if (e && e.textContent !== String(text)) e.textContent = String(text);
  }
  function debounce(fn, ms) {
    let t = 0;
    return (...args) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...args), ms);
    };
  }

  /* GET or POST a JSON endpoint; resolves to {status, body}; the body of an error is the
   * gateway's {"status","errors":[{"rule","message"}]}. */
  async function api(path, method = 'GET') {
    const res = await fetch(path, { method, headers: { Accept: 'application/json' }, cache: 'no-store' });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    return { status: res.status, body };
  }
  function errorText(r) {
    const err = r.body && Array.isArray(r.body.errors) && r.body.errors[0];
    if (err) return scrub(`${err.message || 'error'} (${err.rule || r.status})`);
    return `HTTP ${r.status}`;
  }

  // ---- the event stream ----

  function setConnection(text, cls) {
    const e = $('#connection-state');
    e.textContent = text;
    e.className = `connection ${cls}`;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.source) state.source.close();
    setConnection('connecting', 'connecting');
    const es = new EventSource('/v1/events');
    state.source = es;
    es.onopen = () => setConnection('live', 'live');
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // the browser gave up (an HTTP error answer): try again ourselves
        setConnection('offline', 'offline');
        state.reconnectTimer = setTimeout(connect, 5000);
      } else {
        setConnection('reconnecting', 'connecting');
      }
    };
    const on = (type, fn) => es.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      setConnection('live', 'live');
      fn(data);
    });
    on('hello', onHello);
    on('stats', onStats);
    on('record', (d) => ticker('record', d));
    on('transition', (d) => {
      ticker('transition', d);
      refreshTransitionsSoon();
    });
    on('delivery', (d) => {
      ticker('delivery', d);
      if (d.outcome === 'dead') refreshDeadLettersSoon();
    });
  }

  function onHello(h) {
    state.hello = h;
    state.prev = null; // the daemon may have restarted: its counters too
    state.services = new Map((h.services || []).map((s) => [s.code, s.name || '']));
    setText('#gateway-identity', `${REGIONS[h.region] || 'region'} ${h.region || '?'} · catalogue ${h.catalogue || '?'}`);
    fillServices(h.services || []);
    drawFlow(h);
    refreshTransitions();
    refreshDeadLetters();
  }

  // ---- the flow picture ----

  /* Nodes around the gateway: the departments, then the peer regions; two edges per node, the
   * records it pushes (node -> gateway) and what is delivered to it (gateway -> node). */
  function drawFlow(h) {
    const W = 1100, H = 400, cx = W / 2, cy = H / 2;
    const GW = { w: 156, h: 96 }, NODE = { w: 184, h: 76 };
    const nodes = [];
    for (const d of h.departments || []) nodes.push({ kind: 'dept', id: d.id, dept: d });
    for (const p of h.peers || []) nodes.push({ kind: 'peer', id: p.id, peer: p });
    const root = svg('svg', {
      id: 'flow-svg', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': 'departments and peer regions around the gateway, with records and deliveries per second',
    });
    const defs = svg('defs');
    for (const k of ['ok', 'warn', 'error', 'idle']) {
      defs.append(svg('marker', {
        id: `arrow-${k}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6,
        orient: 'auto-start-reverse', class: `arrow ${k}`,
      }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' })));
    }
    root.append(defs);
    const edges = svg('g', { class: 'edges' });
    const labels = svg('g', { class: 'labels' });
    const boxes = svg('g', { class: 'nodes' });
    root.append(edges, boxes, labels);
    // how far from a box's centre a ray in direction (ux, uy) leaves it
    const exit = (b, ux, uy) => Math.min(ux ? b.w / 2 / Math.abs(ux) : Infinity, uy ? b.h / 2 / Math.abs(uy) : Infinity);
    const box = (g, x, y, b, cls) => g.append(svg('rect', {
      x: (x - b.w / 2).toFixed(1), y: (y - b.h / 2).toFixed(1), width: b.w, height: b.h, rx: 12, class: cls || null,
    }));
    const text = (cls, x, y, content, id) => svg('text', { id, class: cls, x: x.toFixed(1), y: y.toFixed(1), 'text-anchor': 'middle' }, content);

    nodes.forEach((n, i) => {
      // evenly around the gateway from the top-left, pushed out onto a rectangle so that four
      // departments sit at its corners and more spread along its sides
      const a = -Math.PI * 3 / 4 + (2 * Math.PI * i) / Math.max(nodes.length, 1);
      const stretch = (v) => Math.sign(v) * Math.min(1, Math.abs(v) * Math.SQRT2);
      const x = cx + (W / 2 - NODE.w / 2 - 8) * stretch(Math.cos(a)), y = cy + (H / 2 - NODE.h / 2 - 8) * stretch(Math.sin(a));
      const dx = cx - x, dy = cy - y, len = Math.hypot(dx, dy) || 1;
      const ux = dx / len, uy = dy / len; // node -> gateway
      const px = -uy, py = ux; // perpendicular: the two edges of a pair sit either side
      const off = 10, from = exit(NODE, ux, uy) + 4, to = exit(GW, ux, uy) + 6;
      const seg = (sign) => {
        const ox = px * off * sign, oy = py * off * sign;
        return { x1: x + ux * from + ox, y1: y + uy * from + oy, x2: cx - ux * to + ox, y2: cy - uy * to + oy };
      };
      const push = n.dept ? (n.dept.push || []).length > 0 : true;
      const deliver = n.dept ? Boolean(n.dept.deliver) && n.dept.deliver !== 'none' : true;
      const inS = seg(1), outS = seg(-1);
      edges.append(
        svg('g', { id: `edge-in-${n.id}`, class: `edge in${push ? '' : ' unused'}`, dataset: { node: n.id, direction: 'in' } },
          svg('path', { d: `M ${inS.x1.toFixed(1)} ${inS.y1.toFixed(1)} L ${inS.x2.toFixed(1)} ${inS.y2.toFixed(1)}` }),
          svg('title', { text: `${n.id} → gateway: records received per second` })),
        svg('g', { id: `edge-out-${n.id}`, class: `edge out${deliver ? '' : ' unused'}`, dataset: { node: n.id, direction: 'out' } },
          svg('path', { d: `M ${outS.x2.toFixed(1)} ${outS.y2.toFixed(1)} L ${outS.x1.toFixed(1)} ${outS.y1.toFixed(1)}` }),
          svg('title', { text: `gateway → ${n.id}: deliveries per second (${n.dept ? n.dept.deliver || 'none' : 'peer'})` })));
      // each label outside its line, nearer the node than the gateway
      const label = (sg, sign, direction) => {
        const t = 0.4, lx = sg.x1 + (sg.x2 - sg.x1) * t + px * 17 * sign, ly = sg.y1 + (sg.y2 - sg.y1) * t + py * 17 * sign;
        return svg('text', {
          id: `edge-label-${direction}-${n.id}`, class: `edge-label ${direction}`, x: lx.toFixed(1), y: ly.toFixed(1),
          'text-anchor': 'middle', 'dominant-baseline': 'middle', dataset: { node: n.id, direction, rate: 0 },
        }, `${direction} 0/s`);
      };
      labels.append(label(inS, 1, 'in'), label(outS, -1, 'out'));
      const d = DEPARTMENTS[n.id];
      const g = svg('g', { id: `node-${n.id}`, class: `node ${n.kind}`, dataset: { node: n.id } });
      box(g, x, y, NODE);
      const region = n.kind === 'peer' ? String(n.peer.region || n.id) : '';
      const title = n.kind === 'peer' ? (REGIONS[region] || `区域 ${region}`).split(' ')[0] : d ? `${d.zh} ${n.id}` : n.id;
      const sub = n.kind === 'peer' ? `peer region ${region}` : d ? d.en : '';
      g.append(text('node-title', x, y - 12, title), text('node-sub', x, y + 6, sub), text('node-queue', x, y + 24, '', `node-queue-${n.id}`),
        svg('title', { text: n.kind === 'peer' ? `peer gateway ${n.id}` : `${n.id}: pushes ${(n.dept.push || []).join(', ') || 'nothing'}; delivered by ${n.dept.deliver || 'none'}` }));
      boxes.append(g);
    });
    const gw = svg('g', { id: 'node-gateway', class: 'node gateway' });
    box(gw, cx, cy, GW);
    gw.append(text('node-title', cx, cy - 18, '民生网关'), text('node-sub', cx, cy + 2, `gateway · region ${h.region || '?'}`),
      text('node-queue', cx, cy + 22, '', 'node-gateway-rate'));
    boxes.append(gw);
    const holder = $('#flow');
    clear(holder);
    holder.append(root);
  }

  function updateEdge(node, direction, rate, level, title) {
    const g = document.getElementById(`edge-${direction}-${node}`);
    const label = document.getElementById(`edge-label-${direction}-${node}`);
    if (!g || !label) return;
    g.classList.remove('ok', 'warn', 'error', 'idle');
    g.classList.add(level || (rate > 0 ? 'ok' : 'idle'));
    label.classList.remove('ok', 'warn', 'error', 'idle');
    label.classList.add(level || (rate > 0 ? 'ok' : 'idle'));
    label.dataset.rate = String(rate);
    const text = `${direction} ${rateText(rate)}`;
    if (label.textContent !== text) label.textContent = text;
    const t = g.querySelector('title');
    if (t && title) t.textContent = title;
  }

  // ---- stats ----

  const sum = (obj, keys) => Object.values(obj || {}).reduce((a, v) => a + keys.reduce((b, k) => b + num(v && v[k]), 0), 0);
  const RECEIVED = ['stored', 'duplicate', 'rejected'];

  function onStats(s) {
    const prev = state.prev;
    let dt = 0;
    if (prev) {
      const t0 = Date.parse(prev.time), t1 = Date.parse(s.time);
      dt = Number.isFinite(t0) && Number.isFinite(t1) ? (t1 - t0) / 1000 : 0;
    }
    const delta = (a, b, keys) => (b ? keys.reduce((x, k) => x + num(a && a[k]) - num(b[k]), 0) : 0);
    const rate = (a, b, keys) => (dt > 0 && b ? Math.max(0, delta(a, b, keys)) / dt : 0);

    // totals
    const received = sum(s.received, RECEIVED);
    setText('#stat-received-total', received);
    setText('#stat-stored-total', sum(s.received, ['stored']));
    setText('#stat-duplicate-total', sum(s.received, ['duplicate']));
    setText('#stat-rejected-total', sum(s.received, ['rejected']));
    setText('#stat-refused-total', sum(s.received, ['refused']));
    setText('#stat-delivered-total', sum(s.deliveries, ['delivered']));
    setText('#stat-retry-total', sum(s.deliveries, ['retry']));
    const deadTotal = sum(s.outbox, ['dead']);
    setText('#stat-dead-total', deadTotal);
    setText('#stat-pending-total', sum(s.outbox, ['pending']));
    const tr = s.transitions || {};
    setText('#stat-transitions-new', num(tr.new));
    setText('#stat-transitions-lost', num(tr.lost));
    setText('#stat-transitions-changed', num(tr.changed));
    if (prev && dt > 0) {
      setText('#rate-received-total', rateText(Math.max(0, received - sum(prev.received, RECEIVED)) / dt));
      setText('#rate-delivered-total', rateText(Math.max(0, sum(s.deliveries, ['delivered']) - sum(prev.deliveries, ['delivered'])) / dt));
    }
    setText('#stats-time', `updated ${clockText(s.time)}`);

    // edges: every node of the picture, and any department the stats name
    const ids = new Set([...(state.hello ? [...(state.hello.departments || []), ...(state.hello.peers || [])].map((d) => d.id) : []),
      ...Object.keys(s.received || {}), ...Object.keys(s.deliveries || {}), ...Object.keys(s.outbox || {})]);
    let gwIn = 0, gwOut = 0;
    const rows = [];
    for (const id of ids) {
      const rc = (s.received || {})[id], prc = prev && (prev.received || {})[id];
      const dl = (s.deliveries || {})[id], pdl = prev && (prev.deliveries || {})[id];
      const ob = (s.outbox || {})[id];
      const inRate = rate(rc, prc, RECEIVED);
      const outRate = rate(dl, pdl, ['delivered']);
      gwIn += inRate;
      gwOut += outRate;
      const badIn = prc && delta(rc, prc, ['rejected', 'refused']) > 0;
      const deadOut = pdl && delta(dl, pdl, ['dead']) > 0;
      const retryOut = pdl && delta(dl, pdl, ['retry']) > 0;
      updateEdge(id, 'in', inRate, badIn ? 'error' : null,
        `${id} → gateway: ${rateText(inRate)} received; totals ${num(rc && rc.stored)} stored, ${num(rc && rc.duplicate)} duplicate, ${num(rc && rc.rejected)} rejected, ${num(rc && rc.refused)} refused`);
      updateEdge(id, 'out', outRate, deadOut ? 'error' : retryOut ? 'warn' : null,
        `gateway → ${id}: ${rateText(outRate)} delivered; totals ${num(dl && dl.delivered)} delivered, ${num(dl && dl.retry)} retries, ${num(dl && dl.dead)} dead`);
      const q = document.getElementById(`node-queue-${id}`);
      if (q) {
        const dept = state.hello && (state.hello.departments || []).find((x) => x.id === id);
        const via = dept && dept.deliver && dept.deliver !== 'none' ? `${dept.deliver} · ` : '';
        const txt = ob ? `${via}queue ${num(ob.pending)}${num(ob.dead) ? ` · dead ${num(ob.dead)}` : ''}` : via.replace(/ · $/, '');
        if (q.textContent !== txt) q.textContent = txt;
        q.classList.toggle('bad', num(ob && ob.dead) > 0);
      }
      if (ob || dl) rows.push({ id, ob: ob || {}, outRate });
    }
    setText('#node-gateway-rate', `in ${rateText(gwIn)} · out ${rateText(gwOut)}`);
    renderQueues(rows);

    if (state.lastDeadTotal !== null && deadTotal !== state.lastDeadTotal) refreshDeadLettersSoon();
    state.lastDeadTotal = deadTotal;
    state.prev = s;
  }

  function renderQueues(rows) {
    const tbody = $('#queues tbody');
    rows.sort((a, b) => a.id.localeCompare(b.id));
    const have = new Map([...tbody.rows].map((r) => [r.dataset.recipient, r]));
    rows.forEach((r, i) => {
      let tr = have.get(r.id);
      if (!tr) {
        tr = el('tr', { dataset: { recipient: r.id } },
          el('td', null, deptLabel(r.id)), el('td', { class: 'num pending' }), el('td', { class: 'num oldest' }),
          el('td', { class: 'num dead' }), el('td', { class: 'num rate' }));
      }
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      tr.cells[1].textContent = num(r.ob.pending);
      tr.cells[2].textContent = age(num(r.ob.oldest_seconds));
      tr.cells[3].textContent = num(r.ob.dead);
      tr.cells[4].textContent = rateText(r.outRate);
      tr.classList.toggle('bad', num(r.ob.dead) > 0);
      tr.classList.toggle('warn', num(r.ob.oldest_seconds) > 60);
      have.delete(r.id);
    });
    for (const tr of have.values()) tr.remove();
  }

  // ---- the instances over the store (docs/cluster.md) ----

  const CLUSTER_EVERY_MS = 5000;
  async function refreshCluster() {
    let r;
    try {
      r = await api('/v1/cluster');
    } catch (_) {
      setTimeout(refreshCluster, CLUSTER_EVERY_MS); // offline: the next round tries again
      return;
    }
    const alone = r.status === 404; // a store one process owns stays so until a restart: asked once
    if (!alone) setTimeout(refreshCluster, CLUSTER_EVERY_MS);
    $('#cluster').hidden = alone || r.status !== 200;
    if (alone) setText('#cluster-alone', 'one instance on its own store (SQLite) 单实例');
    else if (r.status !== 200) setText('#cluster-alone', errorText(r));
    else renderCluster(r.body);
    $('#cluster-alone').hidden = r.status === 200;
  }
  function renderCluster(v) {
    const lease = (v.leases || []).find((l) => l.name === 'evaluator');
    setText('#cluster-epoch', lease ? `evaluator lease epoch ${num(lease.epoch)}` : '');
    const tbody = $('#cluster tbody');
    tbody.replaceChildren(...(v.instances || []).map((i) => el('tr',
      { dataset: { instance: i.name, role: i.evaluator ? 'evaluator' : i.role }, class: i.alive ? null : 'bad' },
      el('td', null, `${i.name}${i.self ? ' (this one 本实例)' : ''}`),
      el('td', { class: i.evaluator ? 'good' : null }, i.evaluator ? 'evaluator 评估' : i.alive ? 'follower 跟随' : i.role),
      el('td', { class: 'num' }, `${(Math.max(0, num(i.heartbeat_age_ms)) / 1000).toFixed(1)} s ago`),
      el('td', { class: 'num' }, String(num(i.evaluated_through))))));
  }

  // ---- certificates (GET /v1/certificates) ----

  /* Days change slowly and a reload (SIGHUP) changes the list: a look every minute is enough. */
  const CERTIFICATES_EVERY_MS = 60000;
  async function refreshCertificates() {
    setTimeout(refreshCertificates, CERTIFICATES_EVERY_MS);
    let r;
    try {
      r = await api('/v1/certificates');
    } catch (e) {
      setText('#certificates-status', `cannot load the certificates: ${e.message}`);
      return;
    }
    if (r.status !== 200 || !r.body) {
      setText('#certificates-status', errorText(r));
      return;
    }
    renderCertificates(r.body.certificates || [], num(r.body.warning_days));
  }

  function daysText(c) {
    if (c.state === 'unreadable') return 'unreadable';
    if (c.days_left === undefined) return '—'; // a CRL without nextUpdate
    const d = num(c.days_left);
    return d < 0 ? `expired ${-d - 1 || '<1'} d ago` : String(d);
  }

  function renderCertificates(list, warningDays) {
    const rows = list.map((c, i) => {
      const cls = c.state === 'warning' ? 'warn' : c.state === 'expired' || c.state === 'unreadable' ? 'bad' : null;
      return el('tr', { class: cls, title: c.detail || '', dataset: { key: `${i}`, sig: JSON.stringify(c), name: c.name, kind: c.kind, state: c.state } },
        el('td', null, el('span', { class: 'mono' }, c.name), el('div', { class: 'small muted' }, c.key || '')),
        el('td', { class: 'mono small' }, c.subject || c.issuer || c.detail || ''),
        el('td', { class: 'num days', dataset: { days: c.days_left === undefined ? '' : c.days_left } }, daysText(c)),
        timeCell(c.not_after || c.next_update || ''));
    });
    patchRows($('#certificates tbody'), rows, 'no certificates', 4);
    const attention = list.filter((c) => c.state !== 'ok').length;
    setText('#certificates-status', `${attention ? `${attention} need attention · ` : ''}warning at ${warningDays} days · ${clockText()}`);
  }

  // ---- the audit log (GET /v1/audit/verify, on demand) ----

  /* A verification reads the whole log (seconds for millions of entries, worked through by the
   * gateway a millisecond at a time): asked for with the button, never polled. */
  async function verifyAudit() {
    const button = $('#audit-verify');
    button.disabled = true;
    setText('#audit-status', 'verifying… 校验中');
    try {
      const r = await api('/v1/audit/verify');
      if (r.body && typeof r.body.status === 'string') renderAudit(r.body);
      else setText('#audit-status', errorText(r));
    } catch (e) {
      setText('#audit-status', `cannot verify: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function renderAudit(b) {
    const table = $('#audit-result');
    table.hidden = false;
    table.dataset.state = b.status;
    const state = $('#audit-state');
    state.textContent = { ok: 'verifies 完整', broken: 'BROKEN 已被篡改', unreadable: 'cannot be read 无法读取' }[b.status] || b.status;
    state.className = b.status === 'ok' ? 'good' : 'bad';
    setText('#audit-entries', b.status === 'unreadable' ? '—' : `${num(b.entries)} in ${num(b.segments)} segment${num(b.segments) === 1 ? '' : 's'} (seq ${num(b.first_seq)}–${num(b.last_seq)})`);
    setText('#audit-checkpoint', b.last_checkpoint ? `seq ${num(b.last_checkpoint)}, ${num(b.after_last_checkpoint)} entries after it` : '—');
    const s = b.signed_by || {};
    setText('#audit-signer', s.cert_sha256 ? `sha256 ${String(s.cert_sha256).slice(0, 16)}… · key changed ${num(s.key_changes)}×` : '—');
    const problem = b.problem && b.problem.message;
    $('#audit-problem-row').hidden = !problem;
    setText('#audit-problem', problem ? scrub(problem) : '');
    setText('#audit-status', clockText());
  }

  // ---- the ticker ----

  function ticker(type, d) {
    const list = $('#ticker');
    let text, cls = '';
    if (type === 'record') {
      text = `${d.sender || '?'} → ${d.kind || 'record'} ${d.duplicate ? '(duplicate) ' : ''}` +
        `${(d.persons || []).join(', ')} · ${num(d.facts)} facts · ${d.message_id || ''}`;
      if (d.duplicate) cls = 'muted';
    } else if (type === 'transition') {
      const name = serviceName(d.service);
      text = `${String(d.kind || '').toUpperCase()} ${d.service || ''}${name ? ' ' + name : ''} · ${d.person || ''}` +
        `${d.cause ? ' · ' + d.cause : ''}`;
      cls = d.kind === 'new' ? 'good' : d.kind === 'lost' ? 'warn' : '';
    } else {
      text = `${d.outcome || '?'} → ${d.recipient || '?'} (${d.transport || '?'}) ${d.kind || ''} · ${d.person || ''}` +
        ` · attempt ${num(d.attempts)}${d.error ? ' · ' + d.error : ''}`;
      cls = d.outcome === 'dead' ? 'bad' : d.outcome === 'retry' ? 'warn' : '';
    }
    const li = el('li', { class: `tick ${type} ${cls}`, dataset: { type } },
      el('span', { class: 'time' }, clockText(d.time)), el('span', { class: `tag ${type}` }, type),
      el('span', { class: 'what' }, scrub(text)));
    list.prepend(li);
    while (list.children.length > TICKER_MAX) list.lastElementChild.remove();
  }

  // ---- dead letters ----

  let deadLettersBusy = false, deadLettersAgain = false;
  async function refreshDeadLetters() {
    if (deadLettersBusy) {
      deadLettersAgain = true;
      return;
    }
    deadLettersBusy = true;
    try {
      const r = await api('/v1/deadletters');
      if (r.status !== 200 || !r.body) {
        setText('#deadletters-status', errorText(r));
        return;
      }
      renderDeadLetters(r.body.dead_letters || []);
    } catch (e) {
      setText('#deadletters-status', `cannot load the dead letters: ${e.message}`);
    } finally {
      deadLettersBusy = false;
      if (deadLettersAgain) {
        deadLettersAgain = false;
        refreshDeadLetters();
      }
    }
  }
  const refreshDeadLettersSoon = debounce(refreshDeadLetters, 800);

  /* Replaces tbody's rows by `rows` (each with a data-key and a data-sig), keeping the elements of
   * rows whose key and content are unchanged: what an administrator is about to click on does not
   * vanish under the pointer at every refresh. */
  function patchRows(tbody, rows, emptyText, columns) {
    const old = new Map([...tbody.rows].filter((r) => r.dataset.key).map((r) => [r.dataset.key, r]));
    const next = rows.map((r) => {
      const have = old.get(r.dataset.key);
      return have && have.dataset.sig === r.dataset.sig ? have : r;
    });
    if (!next.length) next.push(el('tr', { class: 'empty' }, el('td', { colspan: columns, class: 'muted' }, emptyText)));
    next.forEach((r, i) => {
      if (tbody.rows[i] !== r) tbody.insertBefore(r, tbody.rows[i] || null);
    });
    while (tbody.rows.length > next.length) tbody.lastElementChild.remove();
  }

  function renderDeadLetters(list) {
    const rows = list.map((d) => {
      const tr = el('tr', { dataset: { id: d.id, key: d.id, recipient: d.recipient, sig: JSON.stringify(d) } },
        el('td', { class: 'num' }, d.id),
        el('td', null, deptLabel(d.recipient || '')),
        el('td', null, d.kind || ''),
        el('td', { class: 'mono', title: d.event_id || '' }, (d.event_id || '').slice(0, 16) + ((d.event_id || '').length > 16 ? '…' : '')),
        el('td', { class: 'mono' }, scrub(d.person || '')),
        el('td', { class: 'num' }, num(d.attempts)),
        timeCell(d.last_attempt_at || d.created_at),
        el('td', { class: 'error-text' }, scrub(d.last_error || '')),
        el('td', null, el('button', { type: 'button', class: 'replay', dataset: { id: d.id } }, '重投 Replay')));
      return tr;
    });
    patchRows($('#deadletters tbody'), rows, 'no dead letters 没有死信', 9);
    setText('#deadletters-count', `(${list.length})`);
    $('#replay-all').disabled = list.length === 0;
  }

  async function replay(id) {
    const path = id === undefined ? '/v1/deadletters/replay' : `/v1/deadletters/${encodeURIComponent(id)}/replay`;
    setText('#deadletters-status', id === undefined ? 'replaying all…' : `replaying ${id}…`);
    try {
      const r = await api(path, 'POST');
      if (r.status === 200 && r.body) setText('#deadletters-status', `replayed ${num(r.body.replayed)} · ${clockText()}`);
      else setText('#deadletters-status', errorText(r));
    } catch (e) {
      setText('#deadletters-status', `replay failed: ${e.message}`);
    }
    await refreshDeadLetters();
  }

  // ---- transitions ----

  function fillServices(services) {
    const sel = $('#transition-service');
    const keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    const sorted = [...services].sort((a, b) => String(a.code).localeCompare(String(b.code)));
    for (const s of sorted) {
      sel.append(el('option', { value: s.code }, `${s.code} ${s.name || ''}${s.department ? ' · ' + (DEPARTMENTS[s.department] ? DEPARTMENTS[s.department].zh : s.department) : ''}`));
    }
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }

  let transitionsSeq = 0;
  async function refreshTransitions() {
    const service = $('#transition-service').value;
    const district = $('#transition-district').value.trim();
    if (district && !/^[0-9]{1,6}$/.test(district)) {
      setText('#transitions-status', 'a district is a GB/T 2260 prefix: 2, 4 or 6 digits');
      return;
    }
    const q = new URLSearchParams({ limit: '50' });
    if (service) q.set('service', service);
    if (district) q.set('district', district);
    const seq = ++transitionsSeq;
    try {
      const r = await api(`/v1/transitions?${q}`);
      if (seq !== transitionsSeq) return; // a newer query is on its way
      if (r.status !== 200 || !r.body) {
        setText('#transitions-status', errorText(r));
        return;
      }
      const list = r.body.transitions || [];
      const rows = list.map((t) => {
        const tr = transitionRow(t);
        tr.dataset.key = String(t.id);
        tr.dataset.sig = String(t.id); // a transition never changes once logged
        return tr;
      });
      patchRows($('#transitions tbody'), rows, 'no transitions 暂无', 9);
      setText('#transitions-status', `${list.length} shown · ${clockText()}`);
    } catch (e) {
      if (seq === transitionsSeq) setText('#transitions-status', `cannot load the transitions: ${e.message}`);
    }
  }
  const refreshTransitionsSoon = debounce(refreshTransitions, 1000);

  function transitionRow(t) {
    const kind = String(t.kind || '');
    const name = t.service_name || serviceName(t.service);
    const region = [t.hukou_region, t.residence_region].filter(Boolean);
    return el('tr', { dataset: { id: t.id, kind, service: t.service || '' } },
      timeCell(t.at),
      el('td', null, el('span', { class: `kind ${kind}` }, kind.toUpperCase())),
      el('td', null, el('span', { class: 'mono' }, t.service || ''), name ? el('div', { class: 'small' }, name) : null),
      el('td', { class: 'mono' }, scrub(t.person || '')),
      el('td', { class: 'mono' }, region.length === 2 && region[0] === region[1] ? region[0] : region.join(' / ')),
      el('td', null, t.tier || ''),
      el('td', { class: 'num' }, yuan(t.amount)),
      el('td', null, el('div', { class: 'explanation' }, scrub(t.explanation || ''))),
      el('td', null, t.cause ? traceLink(t.cause) : ''));
  }

  /* A message id that opens its trace in the search panel. */
  function traceLink(id) {
    const shown = scrub(id);
    const b = el('button', { type: 'button', class: 'link mono', title: 'trace this message' }, shown);
    // an id that had to be scrubbed cannot be looked up from what is shown; keep the original
    b.addEventListener('click', () => searchMessage(id));
    return b;
  }

  // ---- search ----

  function searchFor(value) {
    const v = value.trim();
    if (!v) return;
    if (ID_NUMBER.test(v)) searchPerson(v.toUpperCase());
    else searchMessage(v);
  }

  function resultBox() {
    const box = $('#search-result');
    clear(box);
    return box;
  }

  async function searchPerson(id) {
    // never echo an ID number back: the box is cleared and only the masked form is shown
    $('#search-input').value = '';
    const masked = maskId(id);
    const box = resultBox();
    box.dataset.kind = 'person';
    box.append(el('p', { class: 'muted' }, `looking up ${masked}…`));
    let r;
    try {
      r = await api(`/v1/persons/${encodeURIComponent(id)}`);
    } catch (e) {
      resultBox().append(el('p', { class: 'error-text' }, `lookup failed: ${e.message}`));
      return;
    }
    const out = resultBox();
    out.dataset.kind = 'person';
    if (r.status !== 200 || !r.body) {
      out.append(el('h3', null, `人员 Person ${masked}`),
        el('p', { class: 'error-text' }, r.status === 404 ? `not known to the gateway (${errorRule(r) || 'person.unknown'})` : errorText(r)));
      return;
    }
    const p = r.body;
    out.append(el('h3', null, `人员 Person `, el('span', { class: 'mono', id: 'search-person' }, scrub(p.person || masked))));
    out.append(el('h4', null, `资格 Verdicts (${(p.verdicts || []).length})`),
      table(['service', 'eligible', 'since', 'tier', 'amount 元', 'updated'], (p.verdicts || []).map((v) => [
        serviceCell(v.service), v.eligible ? '✔ eligible' : '✘ not eligible', dateText(v.since), v.tier || '',
        { text: yuan(v.amount), cls: 'num' }, { time: v.updated_at }])));
    out.append(el('h4', null, `记录 Records (${(p.records || []).length})`),
      table(['message id', 'kind', 'sender', 'recorded'], (p.records || []).map((x) => [
        { node: traceLink(x.message_id || '') }, x.kind || '', deptLabel(x.sender || ''), { time: x.recorded_at }])));
    const trs = p.transitions || [];
    const tt = el('table', { class: 'transitions' },
      el('thead', null, el('tr', null, ...['time', 'kind', 'service', 'person', 'region', 'tier', 'amount 元', 'explanation', 'cause'].map((h) => el('th', null, h)))),
      el('tbody', null, ...trs.map(transitionRow)));
    out.append(el('h4', null, `资格变化 Transitions (${trs.length})`), el('div', { class: 'scroll' }, tt));
    await showDisclosures(out, id);
  }

  /* Who was given what of the person (docs/disclosure.md); asking is audited by the gateway. */
  async function showDisclosures(out, id) {
    let r;
    try {
      r = await api(`/v1/persons/${encodeURIComponent(id)}/disclosures`);
    } catch (e) {
      out.append(el('p', { class: 'error-text' }, `disclosures: ${e.message}`));
      return;
    }
    if (r.status !== 200 || !r.body) {
      out.append(el('p', { class: 'error-text' }, `disclosures: ${errorText(r)}`));
      return;
    }
    const ds = r.body.disclosures || [];
    out.append(el('h4', { id: 'search-disclosures' }, `披露 Disclosures (${ds.length})`),
      table(['recipient', 'what', 'fields', 'rule', 'delivered'], ds.map((d) => [
        `${deptLabel(d.recipient || '')} (${d.recipient_type || ''})`, d.what || '',
        Array.isArray(d.fields) ? d.fields.join(', ') : (d.fields_note || ''),
        (d.basis && d.basis.rule) || 'not recorded', { time: d.delivered_at }])));
  }

  function errorRule(r) {
    const err = r.body && Array.isArray(r.body.errors) && r.body.errors[0];
    return err ? err.rule : '';
  }

  function serviceCell(code) {
    const name = serviceName(code);
    return { node: el('span', null, el('span', { class: 'mono' }, code || ''), name ? ` ${name}` : '') };
  }

  /* table(headers, rows): each cell a string, or {text, cls}, {time}, {node}. */
  function table(headers, rows) {
    if (!rows.length) return el('p', { class: 'muted' }, 'none');
    return el('div', { class: 'scroll' }, el('table', null,
      el('thead', null, el('tr', null, ...headers.map((h) => el('th', null, h)))),
      el('tbody', null, ...rows.map((cells) => el('tr', null, ...cells.map((c) => {
        if (c && typeof c === 'object' && 'time' in c) return timeCell(c.time);
        if (c && typeof c === 'object' && 'node' in c) return el('td', null, c.node);
        if (c && typeof c === 'object') return el('td', { class: c.cls || null }, c.raw ? c.text : scrub(c.text));
        return el('td', null, scrub(c === undefined || c === null ? '' : c));
    }))))));
  }

  function valueText(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : x}`).join(', ');
    return String(v);
  }

  async function searchMessage(id) {
    const box = resultBox();
    box.dataset.kind = 'message';
    box.append(el('p', { class: 'muted' }, 'tracing…'));
    let r;
    try {
      r = await api(`/v1/messages/${encodeURIComponent(id)}`);
    } catch (e) {
      resultBox().append(el('p', { class: 'error-text' }, `trace failed: ${e.message}`));
      return;
    }
    const out = resultBox();
    out.dataset.kind = 'message';
    if (r.status !== 200 || !r.body) {
      out.append(el('h3', null, '报文 Message'), el('p', { class: 'error-text' },
        r.status === 404 ? `no stored record has this message id (${errorRule(r) || 'trace.unknown'}); a rejected record is never stored` : errorText(r)));
      return;
    }
    const t = r.body;
    out.append(el('h3', null, '报文 Message ', el('span', { class: 'mono', id: 'search-message' }, scrub(t.message_id || ''))));
    out.append(el('dl', { class: 'trace' },
      el('dt', null, 'received'), el('dd', null, `${timeText(t.received_at || t.recorded_at)} from ${deptLabel(t.sender || '?')}, ${t.kind || '?'} record`),
      el('dt', null, 'body SHA-256'), el('dd', { class: 'mono' }, t.body_digest || t.body_sha256 || ''),
      el('dt', null, 'outcome'), el('dd', { id: 'search-outcome' }, t.outcome || '')));
    out.append(el('h4', null, `事实 Facts written (${(t.facts || []).length})`),
      table(['type', 'subject', 'valid', 'attributes', 'department'], (t.facts || []).map((f) => [
        f.type || '', { text: f.subject || '', cls: 'mono' }, `${dateText(f.valid_from)} – ${dateText(f.valid_to)}`,
        valueText(f.attributes), f.department || ''])));
    out.append(el('h4', null, `资格 Verdicts changed (${(t.verdicts || []).length})`),
      table(['service', 'person', 'eligible', 'tier', 'amount 元'], (t.verdicts || []).map((v) => [
        serviceCell(v.service), { text: v.person || '', cls: 'mono' }, v.eligible ? '✔ eligible' : '✘ not eligible', v.tier || '',
        { text: yuan(v.amount), cls: 'num' }])));
    out.append(el('h4', null, `消息 Messages caused (${(t.messages || []).length})`),
      table(['recipient', 'kind', 'state', 'attempts', 'created', 'delivered', 'last error', 'event id'], (t.messages || []).map((m) => [
        deptLabel(m.recipient || ''), m.kind || '', m.state || '', { text: String(num(m.attempts)), cls: 'num' },
        { time: m.created_at }, { time: m.delivered_at }, { text: m.last_error || '', cls: 'error-text' },
        { text: m.event_id || '', cls: 'mono', raw: true }])));
  }

  // ---- wiring ----

  function start() {
    $('#search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      searchFor($('#search-input').value);
    });
    $('#transition-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      refreshTransitions();
    });
    $('#transition-service').addEventListener('change', () => refreshTransitions());
    $('#transition-district').addEventListener('input', debounce(() => refreshTransitions(), 400));
    $('#deadletters-refresh').addEventListener('click', () => refreshDeadLetters());
    $('#audit-verify').addEventListener('click', () => verifyAudit());
    $('#replay-all').addEventListener('click', () => {
      if (window.confirm('Replay every dead letter? 全部重投？')) replay(undefined);
    });
    $('#deadletters tbody').addEventListener('click', (ev) => {
      const b = ev.target.closest('button.replay');
      if (!b) return;
      b.disabled = true;
      replay(b.dataset.id).finally(() => {
        b.disabled = false; // the row is gone by now, unless the replay failed
      });
    });
    connect();
    refreshCluster();
    refreshCertificates();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
