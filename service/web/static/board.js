// The live alert board: the agency's unresolved alerts, kept current by the server-sent event stream
// (/api/v1/alerts/stream): each event reloads the list from /api/v1/alerts (one request, however many
// events came in the meantime), so the board always shows the server's state, never a guess.
"use strict";
(() => {
  const data = SA.json("board-data");
  const {t, el} = SA;
  const tbody = document.querySelector("#alerts tbody");
  if (!tbody) return;
  const live = document.getElementById("live");
  const SEVERITY = {critical: 0, high: 1, warning: 2};
  const NEAR_S = 60;  // "close to escalation": the next step is due within a minute
  let alerts = data.alerts, seen = new Set(alerts.map(a => a.alert_id)), fresh = new Set();

  function order(list) {
    return [...list].sort((a, b) => (SEVERITY[a.severity] ?? 9) - (SEVERITY[b.severity] ?? 9)
                                     || Date.parse(a.raised_at) - Date.parse(b.raised_at));
  }
  function escalationCell(a, now) {
    if (!a.next_escalation_at) return el("span", {class: "muted"}, a.escalation_level ? t("level", {n: a.escalation_level}) : "—");
    const left = (Date.parse(a.next_escalation_at) - now) / 1000;
    const near = left <= NEAR_S;
    return el("span", {class: near ? "escalation near" : "escalation", "data-near": near ? "1" : null,
                       title: SA.fmtTime(a.next_escalation_at, data.locale, data.timezone)},
              left <= 0 ? t("overdue") : t("escalates_in", {t: SA.fmtSpan(left)}),
              a.escalation_level ? " · " + t("level", {n: a.escalation_level}) : "");
  }
  function actions(a) {
    if (!data.may_act) return "";
    const box = el("span", {class: "actions"});
    const button = (action, label) => el("button", {class: "act " + action, "data-action": action,
                                                   onclick: () => act(a, action)}, label);
    if (a.status === "open") box.append(button("acknowledge", t("acknowledge")));
    if (a.status === "open" || a.status === "acknowledged") box.append(button("dispatch", t("dispatch")));
    if (a.status === "dispatched") box.append(button("on_scene", t("on_scene_action")));
    box.append(button("resolve", t("resolve")));
    return box;
  }
  // what a row shows (ages and countdowns aside, which tick() updates in place)
  const shown = (a) => [a.status, a.severity, a.kind, a.condition, a.order_id, a.raised_at, a.next_escalation_at,
                        a.escalation_level].join("|");
  function render() {
    // rows are kept while what they show is unchanged, and only moved when the order changes: an officer
    // about to press a button never has it swapped under the pointer by an update to another alert
    const now = Date.now(), kept = new Map([...tbody.rows].map(r => [r.dataset.alert, r]));
    const rows = order(alerts).map(a => {
      const row = kept.get(a.alert_id);
      return row && row.dataset.shown === shown(a) ? row : makeRow(a, now);
    });
    rows.forEach((row, i) => { if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null); });
    while (tbody.rows.length > rows.length) tbody.deleteRow(rows.length);
    fresh.clear();
    document.getElementById("empty").hidden = alerts.length > 0;
  }
  function makeRow(a, now) {
    return el("tr", {
        id: "alert-" + a.alert_id, "data-alert": a.alert_id, "data-status": a.status, "data-shown": shown(a),
        class: "sev-" + a.severity + (fresh.has(a.alert_id) ? " fresh" : "")},
      el("td", {}, el("span", {class: "badge sev-" + a.severity}, t(a.severity))),
      el("td", {}, t(a.kind), a.condition === "ended" ? el("span", {class: "muted"}, " (" + t("ended") + ")") : null),
      el("td", {}, el("a", {href: "/orders/" + encodeURIComponent(a.order_id)}, a.order_id)),
      el("td", {class: "status"}, t(a.status)),
      el("td", {}, (a.coarse ? "≈ " : "") + SA.fmtTime(a.raised_at, data.locale, data.timezone)),  // rounded down (her_data.BUCKET)
      el("td", {class: "age"}, SA.fmtSpan((now - Date.parse(a.raised_at)) / 1000)),
      el("td", {class: "esc"}, escalationCell(a, now)),
      el("td", {}, actions(a)));
  }
  async function reload() {
    const r = await SA.api("GET", "/api/v1/alerts?status=open&limit=500");
    if (!r.ok) return;
    alerts = (await r.json()).alerts;
    for (const a of alerts) if (!seen.has(a.alert_id)) { seen.add(a.alert_id); fresh.add(a.alert_id); }
    render();
  }
  let pending = null;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; reload(); }, 250); };

  async function act(a, action) {
    let body = {};
    if (action === "resolve") {
      const dialog = document.getElementById("resolve-dialog");
      document.getElementById("resolve-note").value = "";
      dialog.showModal();
      const ok = await new Promise(done => dialog.addEventListener("close", () => done(dialog.returnValue === "ok"), {once: true}));
      if (!ok) return;
      body = {outcome: document.getElementById("resolve-outcome").value, note: document.getElementById("resolve-note").value};
    } else if (action === "dispatch") {
      const dialog = document.getElementById("dispatch-dialog");
      dialog.showModal();
      const ok = await new Promise(done => dialog.addEventListener("close", () => done(dialog.returnValue === "ok"), {once: true}));
      if (!ok) return;
      body = {unit: document.getElementById("dispatch-unit").value || null};
    }
    const r = await SA.api("POST", "/api/v1/alerts/" + encodeURIComponent(a.alert_id) + "/" + action, body);
    if (!r.ok) { alert(t("failed", {why: await SA.problem(r)})); }
    reload();
  }

  function connect() {
    const source = new EventSource("/api/v1/alerts/stream");
    source.onopen = () => { live.dataset.state = "live"; live.textContent = t("live"); soon(); };
    source.addEventListener("alert", soon);
    source.addEventListener("reset", () => { source.close(); reload(); setTimeout(connect, 1000); });
    source.addEventListener("signed_out", () => { source.close(); live.dataset.state = "down"; live.textContent = t("signed_out"); });
    source.onerror = () => { live.dataset.state = "connecting"; live.textContent = t("reconnecting"); };
  }
  function tick() {  // ages and escalation countdowns, in place: a button being clicked is never replaced
    const now = Date.now(), byId = new Map(alerts.map(a => [a.alert_id, a]));
    for (const row of tbody.rows) {
      const a = byId.get(row.dataset.alert);
      if (!a) continue;
      row.querySelector(".age").textContent = SA.fmtSpan((now - Date.parse(a.raised_at)) / 1000);
      row.querySelector(".esc").replaceChildren(escalationCell(a, now));
    }
  }
  render();
  setInterval(tick, 1000);
  connect();
})();
