// SIAGA operator console. Plain JS, no build step, no network beyond this server.
// All text from the server is put into the page with textContent, never as HTML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("siaga-config").textContent);
  const $ = (id) => document.getElementById(id);

  const LABELS = config.labels; // core/labels.py, the one catalogue of words
  // the words for a code; an unknown code is a dash, never the code itself
  const lab = (group, code) => {
    const table = LABELS[group] || {};
    return code !== null && code !== undefined && Object.prototype.hasOwnProperty.call(table, code)
      ? table[code] : "\u2014";
  };
  const OPEN_STATES = ["new", "acknowledged", "dispatched", "on_scene"];
  // moves that close the incident: each asks first, with a note (required where it says why)
  const CONFIRM = {
    false_alarm: { title: "Nyatakan alarm palsu?", noteRequired: true,
      text: "Insiden ditutup sebagai alarm palsu dan perangkat diberi tahu. Tulis alasannya." },
    resolved: { title: "Selesaikan insiden?", noteRequired: false,
      text: "Insiden ditutup sebagai selesai dan perangkat diberi tahu. Catatan boleh dikosongkan." },
    handed_to_complaints: { title: "Teruskan ke pengaduan?", noteRequired: true, handover: true,
      text: "Insiden ditutup dan menjadi pengaduan untuk OPD. Pilih kategori, periksa uraiannya, dan tulis alasannya." },
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
  let incidents = []; // the open incidents this user may see, as the API orders them
  let shown = []; // those the filters let through, in the same order
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
    let r;
    try {
      r = await fetch("/api/v1" + path, o);
    } catch (_) {
      // the browser's own message ("Failed to fetch") is English and says nothing to an operator
      throw Object.assign(new Error("Server tidak dapat dihubungi. Periksa jaringan lalu coba lagi."), { status: 0 });
    }
    if (r.status === 401) { location.href = "/login"; throw new Error("Sesi berakhir, silakan masuk lagi."); }
    const data = await r.json().catch(() => ({}));
    // the API's sentences are Indonesian and shown as they are
    if (!r.ok) throw Object.assign(new Error(data.message || "Permintaan ditolak (kode " + r.status + ")."), { status: r.status, data });
    return data;
  }

  // --- alarm: WebAudio beep, no sound file -------------------------------------------------
  // Browsers start audio only after the person acts on the page, so the console asks once at
  // sign-in instead of taking the first click meant for something else.
  let audio = null;
  let soundWanted = false;
  function showSound() {
    const b = $("sound-toggle");
    b.textContent = soundWanted ? "Bunyi: aktif" : "Bunyi: mati";
    b.setAttribute("aria-pressed", soundWanted ? "true" : "false");
    b.classList.toggle("sound-off", !soundWanted);
  }
  function setSound(on) {
    soundWanted = on;
    $("sound-prompt").hidden = true;
    if (on) {
      if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      audio.resume().catch(() => {});
    } else if (audio) {
      audio.suspend().catch(() => {});
    }
    showSound();
  }
  $("sound-toggle").addEventListener("click", () => setSound(!soundWanted));
  $("sound-enable").addEventListener("click", () => { setSound(true); beep(1); });
  $("sound-later").addEventListener("click", () => { $("sound-prompt").hidden = true; });
  showSound();

  function beep(times) {
    if (!soundWanted || !audio || audio.state !== "running") return;
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

  // --- waiting timer -----------------------------------------------------------------------
  // The card's colour turns when the escalation timers fire (core/settings.py), so the operator
  // sees the supervisor being called before the call comes.
  const FIRST = Number(config.escalateSupervisorS) || 60;
  const SECOND = Number(config.escalateCommandCentreS) || 120;
  const two = (n) => String(n).padStart(2, "0");
  function waitLevel(seconds) {
    if (seconds >= SECOND) return "merah";
    if (seconds >= FIRST) return "kuning";
    return "normal";
  }
  function paintWait(span) {
    const seconds = Math.max(0, Math.floor((Date.now() - Number(span.dataset.created)) / 1000));
    const level = waitLevel(seconds);
    let text = "Menunggu " + two(Math.floor(seconds / 60)) + ":" + two(seconds % 60);
    if (level === "kuning") text += " · " + lab("colour", "kuning") + ": lewat batas " + lab("role", "supervisor");
    if (level === "merah") text += " · " + lab("colour", "merah") + ": lewat batas " + lab("role", "command_centre");
    if (span.textContent !== text) span.textContent = text;
    span.className = "wait wait-" + level;
    span.dataset.level = level;
  }
  function tickWaits() { for (const s of document.querySelectorAll("#incident-list .wait")) paintWait(s); }

  // --- filters -----------------------------------------------------------------------------
  function fillSelect(select, first, entries) {
    const keep = select.value;
    select.replaceChildren(el("option", { value: "" }, first), ...entries.map(([v, t]) => el("option", { value: v }, t)));
    // a choice stays while nothing matches it, so the list does not jump back to everything
    if (keep && !entries.some(([v]) => v === keep)) select.append(el("option", { value: keep }, keep));
    select.value = keep;
  }
  function agencyName(id) {
    const a = agencies[id];
    return a ? a.short_name || a.name || lab("agency_kind", a.kind) : "\u2014";
  }
  function renderFilters() {
    fillSelect($("f-state"), "Semua status", OPEN_STATES.map((s) => [s, lab("incident_state", s)]));
    fillSelect($("f-type"), "Semua jenis", Object.keys(LABELS.alert_type).map((t) => [t, lab("alert_type", t)]));
    const kec = [...new Set(incidents.map((i) => i.kecamatan_name).filter(Boolean))].sort();
    fillSelect($("f-kecamatan"), "Semua kecamatan", kec.map((k) => [k, k]));
    const ids = [...new Set(incidents.flatMap((i) => i.agencies))].filter((a) => agencies[a]);
    ids.sort((a, b) => agencyName(a).localeCompare(agencyName(b)));
    fillSelect($("f-agency"), "Semua instansi", ids.map((a) => [String(a), agencyName(a)]));
  }
  function matches(i) {
    const st = $("f-state").value, ty = $("f-type").value, kc = $("f-kecamatan").value, ag = $("f-agency").value;
    if (st && i.state !== st) return false;
    if (ty && i.type !== ty) return false;
    if (kc && i.kecamatan_name !== kc) return false;
    if (ag && !i.agencies.includes(Number(ag))) return false;
    const q = $("f-search").value.trim().toLowerCase();
    if (!q) return true;
    // "#12" is incident number 12 exactly; anything else may be part of a number, device or desa
    if (/^#\d+$/.test(q)) return String(i.number) === q.slice(1);
    return [String(i.number), i.device_id, i.device_name, i.desa_name]
      .some((v) => v && String(v).toLowerCase().includes(q));
  }
  for (const id of ["f-state", "f-type", "f-kecamatan", "f-agency"]) $(id).addEventListener("change", () => renderList());
  $("f-search").addEventListener("input", () => renderList());

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
    renderFilters();
    shown = incidents.filter(matches);
    const list = $("incident-list");
    list.replaceChildren();
    for (const i of shown) {
      const badges = el("div", null,
        el("span", { class: "badge" }, lab("alert_type", i.type)),
        el("span", { class: "badge" }, lab("incident_state", i.state)),
        i.escalation_level ? el("span", { class: "badge esc" }, "Eskalasi " + i.escalation_level) : null,
        i.flagged_at ? el("span", { class: "badge flag" }, "Belum di lokasi") : null);
      const wait = el("span", { class: "wait", dataset: { created: String(Date.parse(i.created_at)) } });
      paintWait(wait);
      const row = el("li", {
        class: "incident-row state-" + i.state + (alarming.has(i.id) ? " alarm" : "") +
          (i.id === selectedId ? " selected" : ""),
        role: "option",
        "aria-selected": i.id === selectedId ? "true" : "false",
        dataset: { id: i.id, state: i.state },
        onclick: () => select(i.id),
      },
      el("div", null, el("strong", null, "#" + i.number + " "), el("span", null, i.device_name)),
      badges,
      el("div", null, wait),
      el("div", { class: "muted" }, placeText(i) + " · " + wib(i.created_at)));
      list.append(row);
    }
    $("open-count").textContent = shown.length + " dari " + incidents.length;
    $("empty-list").hidden = incidents.length > 0;
    $("empty-filter").hidden = incidents.length === 0 || shown.length > 0;
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

  // --- selection ---------------------------------------------------------------------------
  const DEEP_LINK = /^#insiden-([0-9a-f-]{36})$/i;

  async function select(id, opts) {
    const o = opts || {};
    selectedId = id;
    alarming.delete(id);
    hideDispatch();
    showError("");
    renderList();
    const row = document.querySelector('#incident-list li[data-id="' + id + '"]');
    if (row) row.scrollIntoView({ block: "nearest" });
    centreOn(id);
    if (location.hash !== "#insiden-" + id) history.replaceState(null, "", "#insiden-" + id);
    await refreshDetail();
    if (!o.fromMap && selected && selected.id === id) centreOn(id, selected);
  }

  function step(by) {
    if (!shown.length) return;
    const at = shown.findIndex((i) => i.id === selectedId);
    const next = at < 0 ? (by > 0 ? 0 : shown.length - 1) : Math.min(shown.length - 1, Math.max(0, at + by));
    select(shown[next].id);
  }

  // --- detail ------------------------------------------------------------------------------
  function showError(msg) {
    const e = $("d-error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }

  async function refreshDetail() {
    if (!selectedId) return;
    const asked = selectedId;
    let got;
    try {
      got = await api("/incidents/" + asked);
    } catch (err) {
      if (err.status === 404 && asked === selectedId) {
        selectedId = null; selected = null; $("detail").hidden = true;
        showError("");
      }
      return;
    }
    if (asked !== selectedId) return; // another incident was chosen meanwhile
    selected = got;
    renderDetail();
  }

  function historyLine(h) {
    const d = h.data || {};
    let text = wib(h.at) + " — " + lab("event_kind", h.kind);
    if (d.to) text += ": " + lab("incident_state", d.to);
    if (d.level) {
      text += " tingkat " + d.level + (d.raised_to === "supervisor"
        ? " (ke " + lab("role", "supervisor") + ")" : " (ke " + lab("role", "command_centre") + " dan atasan)");
    }
    if (d.by) text += " oleh " + d.by;
    return text;
  }

  function renderDetail() {
    const i = selected;
    $("detail").hidden = false;
    $("d-title").textContent = "#" + i.number + " " + lab("alert_type", i.type);
    $("d-badges").replaceChildren(
      i.escalation_level ? el("span", { class: "badge esc" }, "Eskalasi tingkat " + i.escalation_level) : "",
      i.flagged_at ? el("span", { class: "badge flag" }, "Belum tiba di lokasi") : "");
    $("d-state").textContent = lab("incident_state", i.state);
    $("d-time").textContent = wib(i.created_at);
    $("d-device").textContent = i.device_name + " (" + i.device_id + ", alarm ke-" + i.seq + ")" +
      (i.online === false ? " · luring" : "");
    $("d-place").textContent = placeText(i);
    $("d-source").textContent = lab("location_source", i.location_source) +
      (i.accuracy_m != null ? " · ±" + Math.round(i.accuracy_m) + " m" : "");
    $("d-battery").textContent = i.battery != null ? i.battery + "%" : "—";
    $("d-agencies").textContent = i.assignments.map((a) => a.name || lab("agency_kind", a.kind)).join(", ") || "—";
    $("d-complaint").replaceChildren(i.complaint_id
      ? el("a", { id: "d-complaint-link", href: "/pengaduan/" + i.complaint_id }, "Pengaduan #" + i.complaint_id)
      : "—");

    const actions = $("d-actions");
    actions.replaceChildren();
    for (const to of i.allowed) {
      actions.append(el("button", {
        type: "button", dataset: { to },
        onclick: () => act(to),
      }, lab("incident_action", to)));
    }
    // the units of the incident's agencies, grouped by agency; the text field stays for others
    const units = $("dispatch-unit");
    // a refresh from the stream while the form is open keeps the unit already chosen
    const chosen = units.dataset.incident === i.id ? units.value : "";
    units.dataset.incident = i.id;
    const groups = new Map();
    for (const u of i.units) {
      if (!groups.has(u.agency_id)) groups.set(u.agency_id, []);
      groups.get(u.agency_id).push(u);
    }
    units.replaceChildren(el("option", { value: "" }, i.units.length ? "— pilih unit —" : "— ketik di bawah —"));
    for (const [agencyId, list] of groups) {
      const assigned = i.assignments.find((a) => a.agency_id === agencyId);
      const group = el("optgroup", { label: assigned ? assigned.name : agencyName(agencyId) });
      for (const u of list) group.append(el("option", { value: String(u.id) }, u.name));
      units.append(group);
    }
    if (chosen && i.units.some((u) => String(u.id) === chosen)) units.value = chosen;

    $("notes").replaceChildren(...i.notes.filter((n) => n.body || n.unit_label).map((n) =>
      el("li", { class: "note-" + n.kind },
        el("span", { class: "muted" }, wib(n.at) + " · " + n.username + ": "),
        n.unit_label ? el("strong", null, "[" + n.unit_label + "] ") : null,
        el("span", { class: "note-body" }, n.body))));
    $("history").replaceChildren(...i.history.map((h) => el("li", null, historyLine(h))));
  }

  async function act(to) {
    // a key pressed right after choosing a card acts on that card, once its detail is here
    if (selectedId && (!selected || selected.id !== selectedId)) await refreshDetail();
    if (!selected || selected.id !== selectedId || !selected.allowed.includes(to)) return;
    if (to === "dispatched") openDispatch();
    else if (CONFIRM[to]) openConfirm(to);
    else doTransition({ to });
  }

  async function doTransition(body) {
    showError("");
    try {
      selected = await api("/incidents/" + selectedId + "/transition", { method: "POST", body });
      renderDetail();
      refreshList();
      return true;
    } catch (err) {
      showError(err.message);
      refreshDetail();
      return false;
    }
  }

  function openDispatch() {
    $("dispatch-form").hidden = false;
    $("dispatch-unit").focus();
  }
  function hideDispatch() {
    const form = $("dispatch-form");
    // focus left inside a hidden form would swallow the next key as typing
    if (form.contains(document.activeElement)) document.activeElement.blur();
    form.hidden = true;
  }
  $("dispatch-cancel").addEventListener("click", hideDispatch);
  $("dispatch-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const unitId = $("dispatch-unit").value;
    const body = { to: "dispatched", note: $("dispatch-note").value || null, unit: $("dispatch-unit-text").value || null };
    if (unitId) body.unit_id = Number(unitId);
    if (await doTransition(body)) {
      hideDispatch();
      $("dispatch-note").value = "";
      $("dispatch-unit-text").value = "";
    }
  });

  // --- confirmation (false alarm, resolve, hand-over) ---------------------------------------
  let confirming = null;
  let categories = null;
  function confirmError(msg) {
    $("confirm-error").textContent = msg || "";
    $("confirm-error").hidden = !msg;
  }
  async function loadCategories() {
    if (categories) return;
    const got = (await api("/complaint-categories")).categories;
    const select = $("handover-category");
    const byGroup = new Map();
    for (const c of got) {
      if (!byGroup.has(c.group_name)) byGroup.set(c.group_name, []);
      byGroup.get(c.group_name).push(c);
    }
    select.replaceChildren(el("option", { value: "" }, "— pilih kategori —"));
    for (const [name, list] of byGroup) {
      const parent = name ? el("optgroup", { label: name }) : select;
      for (const c of list) parent.append(el("option", { value: String(c.id) }, c.name));
      if (parent !== select) select.append(parent);
    }
    categories = got;
  }
  function handoverText(i) {
    // "di luar Wonosobo" already says where; other places read "di <desa>"
    const where = i.outside_regency ? "di luar Wonosobo" : "di " + placeText(i);
    const lines = [lab("alert_type", i.type) + " " + where + " (insiden #" + i.number + ", " + wib(i.created_at) + ")."];
    for (const n of i.notes) if (n.body) lines.push(n.body);
    return lines.join("\n");
  }
  async function openConfirm(to) {
    const c = CONFIRM[to];
    confirming = { to, incident: selectedId };
    $("confirm-title").textContent = c.title + " (#" + selected.number + ")";
    $("confirm-text").textContent = c.text;
    $("confirm-note-label").textContent = c.noteRequired ? "Alasan (wajib)" : "Catatan (boleh kosong)";
    $("confirm-note").value = "";
    // aria-required, not required: the browser's own bubble would be its words, not ours
    $("confirm-note").setAttribute("aria-required", c.noteRequired ? "true" : "false");
    $("handover-fields").hidden = !c.handover;
    $("handover-category").setAttribute("aria-required", c.handover ? "true" : "false");
    $("confirm-submit").textContent = lab("incident_action", to);
    confirmError("");
    $("confirm-dialog").showModal();
    if (c.handover) {
      $("handover-description").value = handoverText(selected);
      try { await loadCategories(); } catch (err) { confirmError(err.message); }
      $("handover-category").value = "";
      $("handover-category").focus();
    } else {
      $("confirm-note").focus();
    }
  }
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
  $("confirm-dialog").addEventListener("close", () => { confirming = null; });
  $("confirm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); // the dialog closes only when the move went through
    if (!confirming) return;
    const c = CONFIRM[confirming.to];
    const note = $("confirm-note").value.trim();
    const body = { to: confirming.to, note: note || null };
    if (c.handover) {
      const category = $("handover-category").value;
      if (!category) { confirmError("Pilih kategori pengaduan."); $("handover-category").focus(); return; }
      body.category_id = Number(category);
      body.description = $("handover-description").value.trim() || null;
    }
    if (c.noteRequired && !note) { confirmError("Tulis alasannya di kotak catatan."); $("confirm-note").focus(); return; }
    confirmError("");
    $("confirm-submit").disabled = true;
    try {
      selected = await api("/incidents/" + confirming.incident + "/transition", { method: "POST", body });
      $("confirm-dialog").close();
      showError("");
      renderDetail();
      refreshList();
    } catch (err) {
      confirmError(err.message);
      refreshDetail();
    } finally {
      $("confirm-submit").disabled = false;
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

  // --- keyboard ----------------------------------------------------------------------------
  const help = $("help-dialog");
  function openHelp() { if (!help.open) help.showModal(); }
  $("help-open").addEventListener("click", openHelp);
  $("help-close").addEventListener("click", () => help.close());
  const typing = (t) => t instanceof HTMLElement &&
    (t.isContentEditable || t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Escape") {
      // open dialogs close themselves on Escape; the dispatch form is part of the page
      if (!$("dispatch-form").hidden) { hideDispatch(); ev.preventDefault(); }
      if (typing(ev.target) && ev.target.id === "f-search") ev.target.blur();
      return;
    }
    if (typing(ev.target) || $("confirm-dialog").open) return;
    if (help.open && ev.key !== "?") return;
    switch (ev.key) {
      case "j": case "ArrowDown": step(1); break;
      case "k": case "ArrowUp": step(-1); break;
      case "a": act("acknowledged"); break;
      case "d": act("dispatched"); break;
      case "/": $("f-search").focus(); break;
      case "?": if (help.open) help.close(); else openHelp(); break;
      default: return;
    }
    ev.preventDefault();
  });

  // --- map ---------------------------------------------------------------------------------
  let map = null;
  const markers = L.layerGroup();
  // markers as SVG elements, so each can be found, highlighted and clicked on its own
  const markerRenderer = L.svg();
  const markerById = new Map();
  function initMap() {
    // the zoom buttons' words come from /static/siaga/leaflet-id.js, as on every map
    map = L.map("map", { preferCanvas: true }).setView([-7.36, 109.9], 11);
    map.attributionControl.setPrefix(false);
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
        // a deep link already centred the map on its incident: keep that view
        if (!selectedId) map.fitBounds(layer.getBounds(), { animate: false });
      }).catch(() => {});
    }
    markers.addTo(map);
  }

  function markerStyle(i) {
    const colour = i.state === "new" ? "#d00" : "#0f62fe";
    return i.id === selectedId
      ? { radius: 12, color: "#111", weight: 4, fillColor: colour, fillOpacity: 1 }
      : { radius: 8, color: colour, weight: 2, fillColor: colour, fillOpacity: 0.8 };
  }

  function renderMarkers() {
    if (!map) return;
    markers.clearLayers();
    markerById.clear();
    for (const i of shown) {
      if (i.lat == null || i.lon == null) continue;
      const colour = i.state === "new" ? "#d00" : "#0f62fe";
      if (i.accuracy_m) {
        markers.addLayer(L.circle([i.lat, i.lon], {
          radius: i.accuracy_m, color: colour, weight: 1, fillOpacity: 0.1, interactive: false,
        }));
      }
      const m = L.circleMarker([i.lat, i.lon], Object.assign({ renderer: markerRenderer, className: "incident-marker" }, markerStyle(i)));
      m.bindTooltip(() => el("span", null, "#" + i.number + " " + lab("alert_type", i.type) + " · " + i.device_name));
      m.on("click", () => select(i.id, { fromMap: true }));
      markers.addLayer(m);
      const path = m.getElement();
      if (path) {
        path.dataset.id = i.id;
        if (i.id === selectedId) path.classList.add("selected");
      }
      markerById.set(i.id, m);
    }
    const chosen = markerById.get(selectedId);
    if (chosen) chosen.bringToFront();
  }

  function centreOn(id, detail) {
    if (!map) return;
    const i = detail || incidents.find((x) => x.id === id);
    if (!i || i.lat == null || i.lon == null) return;
    map.setView([i.lat, i.lon], Math.max(map.getZoom(), 14), { animate: false });
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
      raiseAlarm(id, "new", "INSIDEN BARU #" + d.number + " — " + lab("alert_type", d.type), 3);
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
  const clockFormat = new Intl.DateTimeFormat("id-ID", {
    timeZone: "Asia/Jakarta", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const tick = () => {
    $("clock").textContent = clockFormat.format(new Date()) + " WIB";
    tickWaits();
  };
  tick();
  setInterval(tick, 1000);
  function followHash() {
    const m = DEEP_LINK.exec(location.hash);
    if (m && m[1].toLowerCase() !== selectedId) select(m[1].toLowerCase());
  }
  window.addEventListener("hashchange", followHash);
  initMap();
  api("/agencies").then((list) => {
    agencies = Object.fromEntries(list.map((a) => [a.id, a]));
    renderList();
  }).catch(() => {});
  refreshList().then(followHash, followHash);
  connect();
})();
