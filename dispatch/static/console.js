// SIAGA operator console. Plain JS, no build step, no network beyond this server.
// All text from the server is put into the page with textContent, never as HTML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("siaga-config").textContent);
  const $ = (id) => document.getElementById(id);

  const LABELS = config.labels; // core/labels.py, the one catalogue of words
  const STATE = LABELS.incident_state;
  const ACTION = {
    acknowledged: "Terima", dispatched: "Kirim unit", on_scene: "Tiba di lokasi", resolved: "Selesai",
    false_alarm: "Alarm palsu", handed_to_complaints: "Teruskan ke pengaduan",
  };
  const TYPE = {
    panic: "Darurat", crime: "Kejahatan", fire: "Kebakaran", medical: "Medis", accident: "Kecelakaan", test: "Uji",
  };
  const SOURCE = {
    gps: "GPS", cell: "Menara seluler", fixed: "Lokasi terpasang", last_known: "Lokasi terakhir",
    unknown: "Tidak diketahui",
  };
  const EVENT = {
    "incident.created": "Alarm diterima", "incident.routed": "Diteruskan ke instansi",
    "incident.state": "Status berubah", "incident.note": "Catatan", "incident.escalated": "Eskalasi",
    "incident.flagged": "Belum tiba di lokasi", "incident.handed_to_complaints": "Diteruskan ke pengaduan",
  };

  const wibFormat = new Intl.DateTimeFormat("id-ID", {
    timeZone: "Asia/Jakarta", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false,
  });
  const wib = (iso) => (iso ? wibFormat.format(new Date(iso)) + " WIB" : "—");

  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === "class") node.className = v;
        else if (k === "dataset") Object.assign(node.dataset, v);
        else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v);
      }
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  };

  let agencies = {};
  let incidents = [];
  let selectedId = null;
  let selected = null;
  // incident id -> {kind: "new" | "escalated" | "flagged", at: ms}; cleared when handled or opened
  const alarming = new Map();

  // --- API --------------------------------------------------------------------------------
  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.body !== undefined) {
      o.headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(o.body);
    }
    if (o.method && o.method !== "GET") o.headers["X-CSRF-Token"] = config.csrf;
    const r = await fetch("/api/v1" + path, o);
    if (r.status === 401) { location.href = "/login"; throw new Error("unauthenticated"); }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.message || r.statusText), { status: r.status, data });
    return data;
  }

  // --- alarm: WebAudio beep, no sound file -------------------------------------------------
  let audio = null;
  function soundOn() {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    audio.resume();
    $("sound-toggle").textContent = "Bunyi: aktif";
  }
  $("sound-toggle").addEventListener("click", soundOn);
  document.addEventListener("click", () => { if (!audio) soundOn(); }, { once: true });

  function beep(times) {
    if (!audio || audio.state !== "running") return;
    const t0 = audio.currentTime;
    for (let i = 0; i < times; i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.15, t0 + i * 0.3);
      gain.gain.setValueAtTime(0, t0 + i * 0.3 + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + i * 0.3);
      osc.stop(t0 + i * 0.3 + 0.22);
    }
  }

  function raiseAlarm(id, kind, text, times) {
    alarming.set(id, { kind, at: Date.now() });
    const b = $("alarm-banner");
    b.textContent = text;
    b.hidden = false;
    beep(times);
    renderList();
  }
  $("alarm-banner").addEventListener("click", () => { $("alarm-banner").hidden = true; });

  // --- list --------------------------------------------------------------------------------
  function placeText(i) {
    if (i.outside_regency) return "Di luar Wonosobo";
    if (i.desa_name) return i.desa_name + (i.kecamatan_name ? ", Kec. " + i.kecamatan_name : "");
    return i.lat != null ? i.lat.toFixed(5) + ", " + i.lon.toFixed(5) : "Lokasi tidak diketahui";
  }

  function pruneAlarms() {
    const byId = new Map(incidents.map((i) => [i.id, i]));
    for (const [id, a] of alarming) {
      const i = byId.get(id);
      // a list fetched just before the event may not hold the incident yet: give it time
      if (!i) { if (Date.now() - a.at > 10000) alarming.delete(id); continue; }
      if (a.kind !== "flagged" && i.state !== "new") alarming.delete(id);
      if (a.kind === "flagged" && !i.flagged_at) alarming.delete(id);
    }
    if (alarming.size === 0) $("alarm-banner").hidden = true;
  }

  function renderList() {
    pruneAlarms();
    const list = $("incident-list");
    list.replaceChildren();
    for (const i of incidents) {
      const badges = el("div", null,
        el("span", { class: "badge" }, TYPE[i.type] || i.type),
        el("span", { class: "badge" }, STATE[i.state] || i.state),
        i.escalation_level ? el("span", { class: "badge esc" }, "Eskalasi " + i.escalation_level) : null,
        i.flagged_at ? el("span", { class: "badge flag" }, "Belum di lokasi") : null);
      const row = el("li", {
        class: "incident-row state-" + i.state + (alarming.has(i.id) ? " alarm" : "") +
          (i.id === selectedId ? " selected" : ""),
        dataset: { id: i.id, state: i.state },
        onclick: () => select(i.id),
      },
      el("div", null, el("strong", null, "#" + i.number + " "), el("span", null, i.device_name)),
      badges,
      el("div", { class: "muted" }, placeText(i) + " · " + wib(i.created_at)));
      list.append(row);
    }
    $("open-count").textContent = String(incidents.length);
    $("empty-list").hidden = incidents.length > 0;
    renderMarkers();
  }

  let listBusy = false;
  let listAgain = false;
  async function refreshList() {
    if (listBusy) { listAgain = true; return; }
    listBusy = true;
    try {
      do {
        listAgain = false;
        incidents = (await api("/incidents?state=open")).incidents;
        renderList();
      } while (listAgain);
    } finally {
      listBusy = false;
    }
  }

  // --- detail ------------------------------------------------------------------------------
  async function select(id) {
    selectedId = id;
    alarming.delete(id);
    renderList();
    await refreshDetail();
  }

  function showError(msg) {
    const e = $("d-error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }

  async function refreshDetail() {
    if (!selectedId) return;
    try {
      selected = await api("/incidents/" + selectedId);
    } catch (err) {
      if (err.status === 404) { selectedId = null; selected = null; $("detail").hidden = true; }
      return;
    }
    renderDetail();
  }

  function renderDetail() {
    const i = selected;
    $("detail").hidden = false;
    $("d-title").textContent = "#" + i.number + " " + (TYPE[i.type] || i.type);
    $("d-badges").replaceChildren(
      i.escalation_level ? el("span", { class: "badge esc" }, "Eskalasi tingkat " + i.escalation_level) : "",
      i.flagged_at ? el("span", { class: "badge flag" }, "Belum tiba di lokasi") : "");
    $("d-state").textContent = STATE[i.state] || i.state;
    $("d-time").textContent = wib(i.created_at);
    $("d-device").textContent = i.device_name + " (" + i.device_id + ", alarm ke-" + i.seq + ")" +
      (i.online === false ? " · luring" : "");
    $("d-place").textContent = placeText(i);
    $("d-source").textContent = (SOURCE[i.location_source] || i.location_source) +
      (i.accuracy_m != null ? " · ±" + Math.round(i.accuracy_m) + " m" : "");
    $("d-battery").textContent = i.battery != null ? i.battery + "%" : "—";
    $("d-agencies").textContent = i.assignments.map((a) => a.name).join(", ") || "—";

    const actions = $("d-actions");
    actions.replaceChildren();
    for (const to of i.allowed) {
      actions.append(el("button", {
        type: "button", dataset: { to },
        onclick: () => (to === "dispatched" ? openDispatch() : doTransition({ to })),
      }, ACTION[to] || to));
    }
    const units = $("dispatch-unit");
    units.replaceChildren(el("option", { value: "" }, "— ketik di bawah —"));
    for (const u of i.units) units.append(el("option", { value: String(u.id) }, u.name));

    $("notes").replaceChildren(...i.notes.filter((n) => n.body || n.unit_label).map((n) =>
      el("li", { class: "note-" + n.kind },
        el("span", { class: "muted" }, wib(n.at) + " · " + n.username + ": "),
        n.unit_label ? el("strong", null, "[" + n.unit_label + "] ") : null,
        el("span", { class: "note-body" }, n.body))));
    $("history").replaceChildren(...i.history.map((h) =>
      el("li", null, wib(h.at) + " — " + (EVENT[h.kind] || h.kind) +
        (h.data && h.data.to ? ": " + (STATE[h.data.to] || h.data.to) : "") +
        (h.data && h.data.level ? " tingkat " + h.data.level +
          (h.data.raised_to === "supervisor" ? " (ke supervisor)" : " (ke pusat kendali dan atasan)") : "") +
        (h.data && h.data.by ? " oleh " + h.data.by : ""))));
  }

  async function doTransition(body) {
    showError("");
    try {
      selected = await api("/incidents/" + selectedId + "/transition", { method: "POST", body });
      renderDetail();
      refreshList();
    } catch (err) {
      showError(err.message);
      refreshDetail();
    }
  }

  function openDispatch() { $("dispatch-form").hidden = false; }
  $("dispatch-cancel").addEventListener("click", () => { $("dispatch-form").hidden = true; });
  $("dispatch-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const unitId = $("dispatch-unit").value;
    const body = { to: "dispatched", note: $("dispatch-note").value || null, unit: $("dispatch-unit-text").value || null };
    if (unitId) body.unit_id = Number(unitId);
    await doTransition(body);
    if ($("d-error").hidden) {
      $("dispatch-form").hidden = true;
      $("dispatch-note").value = "";
      $("dispatch-unit-text").value = "";
    }
  });

  // One Idempotency-Key per note: sending again after an error (the reply may have been lost
  // after the note was stored) reuses it, so the note is stored once.
  let pendingNote = null;
  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);  // works on plain-HTTP LAN consoles, unlike crypto.randomUUID
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("note-input").value.trim();
    if (!text || !selectedId) return;
    if (!pendingNote || pendingNote.text !== text || pendingNote.incident !== selectedId) {
      pendingNote = { text, incident: selectedId, key: newKey() };
    }
    try {
      await api("/incidents/" + selectedId + "/notes", {
        method: "POST", body: { body: text }, headers: { "Idempotency-Key": pendingNote.key },
      });
      pendingNote = null;
      $("note-input").value = "";
      refreshDetail();
    } catch (err) {
      showError(err.message);
    }
  });

  // --- map ---------------------------------------------------------------------------------
  let map = null;
  const markers = L.layerGroup();
  function initMap() {
    map = L.map("map", { preferCanvas: true }).setView([-7.36, 109.9], 11);
    if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution || "" }).addTo(map);
    if (config.geo) {
      fetch(config.geo, { credentials: "same-origin" }).then((r) => r.json()).then((gj) => {
        const layer = L.geoJSON(gj, {
          style: { color: "#557", weight: 1, fillOpacity: 0.03 },
          onEachFeature: (f, layer) => {
            const p = f.properties || {};
            layer.bindTooltip(() => el("span", null, (p.nama || "") + (p.nama_kec ? " (" + p.nama_kec + ")" : "")),
              { sticky: true });
          },
        }).addTo(map);
        layer.bringToBack();
        map.fitBounds(layer.getBounds());
      }).catch(() => {});
    }
    markers.addTo(map);
  }

  function renderMarkers() {
    if (!map) return;
    markers.clearLayers();
    for (const i of incidents) {
      if (i.lat == null || i.lon == null) continue;
      const colour = i.state === "new" ? "#d00" : "#0f62fe";
      if (i.accuracy_m) {
        markers.addLayer(L.circle([i.lat, i.lon], { radius: i.accuracy_m, color: colour, weight: 1, fillOpacity: 0.1 }));
      }
      const m = L.circleMarker([i.lat, i.lon], { radius: 8, color: colour, fillOpacity: 0.8 });
      m.bindTooltip(() => el("span", null, "#" + i.number + " " + (TYPE[i.type] || i.type) + " · " + i.device_name));
      m.on("click", () => select(i.id));
      markers.addLayer(m);
    }
  }

  // --- live events over WebSocket, resumed by cursor ---------------------------------------
  let cursor = null;
  let retry = 0;
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = proto + "//" + location.host + "/api/v1/stream" + (cursor ? "?cursor=" + encodeURIComponent(cursor) : "");
    const ws = new WebSocket(url);
    ws.onopen = () => {
      retry = 0;
      $("conn-status").textContent = "terhubung";
      $("conn-status").className = "conn conn-up";
    };
    ws.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      if (m.type === "hello" || m.type === "caught_up") {
        cursor = m.cursor;
        if (m.type === "caught_up") refreshList();
        return;
      }
      if (m.type !== "event") return;
      cursor = m.cursor;
      onEvent(m);
    };
    ws.onclose = () => {
      $("conn-status").textContent = "terputus";
      $("conn-status").className = "conn conn-down";
      const delay = Math.min(10000, 250 * 2 ** retry) * (0.5 + Math.random());
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, delay);
    };
  }

  function onEvent(m) {
    const d = m.data || {};
    const id = m.incident_id;
    if (m.kind === "agency.unattended") {
      // the last console of an agency closed while it had open incidents (dispatch/presence.py)
      for (const other of d.incident_ids || []) raiseAlarm(other, "unattended", "TIDAK ADA OPERATOR di " + d.agency + ": insiden #" + (d.open_incidents || []).join(", #"), 5);
      refreshList();
      return;
    }
    if (!id) return; // complaint events share the stream; this console shows incidents
    if (m.kind === "incident.routed" && d.dispatch && d.state === "new") {
      raiseAlarm(id, "new", "INSIDEN BARU #" + d.number + " — " + (TYPE[d.type] || d.type), 3);
    } else if (m.kind === "incident.escalated") {
      raiseAlarm(id, "escalated", "ESKALASI #" + d.number + ": belum diterima", 5);
    } else if (m.kind === "incident.unattended") {
      raiseAlarm(id, "new", "#" + d.number + ": instansi tujuan tanpa operator, diambil alih Pusat Kendali", 5);
    } else if (m.kind === "incident.flagged") {
      raiseAlarm(id, "flagged", "#" + d.number + " belum tiba di lokasi", 2);
    }
    refreshList();
    if (id && id === selectedId) refreshDetail();
  }

  // --- start -------------------------------------------------------------------------------
  const tick = () => {
    $("clock").textContent = new Intl.DateTimeFormat("id-ID", {
      timeZone: "Asia/Jakarta", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).format(new Date()) + " WIB";
  };
  tick();
  setInterval(tick, 1000);
  api("/agencies").then((list) => { agencies = Object.fromEntries(list.map((a) => [a.id, a])); }).catch(() => {});
  initMap();
  refreshList();
  connect();
})();
