// The order page: the map (Leaflet, from the app's own files; tiles only when the server names a tile URL,
// otherwise zones, tracks and precincts on a plain background), the distance chart (SVG), and the court's
// evidence download.
"use strict";
(() => {
  const layers = SA.json("map-data"), page = SA.json("page-data");
  // without her places and track the server leaves them out: no zones, no victim, no distance series
  const zones = layers.zones || [];
  const {t, el} = SA;
  const text = (s) => document.createTextNode(s);  // a tooltip is text, never HTML (names come from data)

  // -- map ------------------------------------------------------------------------------------------------
  const map = L.map("map", {preferCanvas: false, attributionControl: !!page.tiles});
  if (page.tiles) L.tileLayer(page.tiles, {maxZoom: 19}).addTo(map);
  else document.getElementById("map").classList.add("plain");
  // the view first (a circle needs a map with a view before it is drawn), from the data itself
  const bounds = L.latLngBounds([]);
  const circleBounds = (lat, lon, r) => L.latLng(lat, lon).toBounds(2 * r);
  for (const z of zones) {
    bounds.extend(z.geometry.type === "Point" ? circleBounds(z.geometry.coordinates[1], z.geometry.coordinates[0], z.radius_m)
                                              : L.geoJSON(z.geometry).getBounds());
  }
  for (const p of layers.respondent.concat(layers.victim || [])) bounds.extend([p[0], p[1]]);
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.15)); else map.setView([30.6, 104.0], 11);

  for (const p of layers.precincts) {
    L.geoJSON(p.geometry, {style: {color: "#7a869a", weight: 1, dashArray: "4 4", fill: false, className: "precinct"}})
      .bindTooltip(text(p.name), {sticky: true}).addTo(map);
  }
  for (const z of zones) {
    const style = {color: "#c62828", weight: 2, fillOpacity: 0.15, className: "zone"};
    const layer = z.geometry.type === "Point"
      ? L.circle([z.geometry.coordinates[1], z.geometry.coordinates[0]], {radius: z.radius_m, ...style})
      : L.geoJSON(z.geometry, {style});
    layer.addTo(map).bindTooltip(text(z.name + " (" + t(z.kind) + ")"));
  }
  // his track is broken where fixes are withheld (near the moving zone's alerts): no line drawn across
  const withheld = (layers.withheld || []).map(w => [Date.parse(w.from), Date.parse(w.to)]);
  const pieces = (points) => {
    const out = [];
    points.forEach((p, i) => {
      const t0 = i ? Date.parse(points[i - 1][2]) : NaN, t1 = Date.parse(p[2]);
      if (!i || withheld.some(([lo, hi]) => t0 < hi && t1 >= lo)) out.push([]);
      out[out.length - 1].push([p[0], p[1]]);
    });
    return out;
  };
  const line = (points, color, cls) => points.length
    ? L.polyline(pieces(points), {color, weight: 3, className: cls}).addTo(map) : null;
  line(layers.respondent, "#1565c0", "track respondent");
  if (layers.respondent.length) {
    const last = layers.respondent[layers.respondent.length - 1];
    L.circleMarker([last[0], last[1]], {radius: 6, color: "#0d47a1", fillOpacity: 1, className: "respondent-last"}).addTo(map)
      .bindTooltip(text(t("his") + " " + SA.fmtTime(last[2], page.locale, page.timezone)));
  }
  if (layers.victim) {
    line(layers.victim, "#6a1b9a", "track victim");
    if (layers.victim.length) {  // her last fix (a track of one fix draws no line)
      const last = layers.victim[layers.victim.length - 1];
      L.circleMarker([last[0], last[1]], {radius: 6, color: "#6a1b9a", fillOpacity: 1, className: "victim-last"}).addTo(map)
        .bindTooltip(text(t("hers") + " " + SA.fmtTime(last[2], page.locale, page.timezone)));
    }
    if (layers.victim.length && layers.min_distance_m) {
      const last = layers.victim[layers.victim.length - 1];
      L.circle([last[0], last[1]], {radius: layers.min_distance_m, color: "#6a1b9a", dashArray: "6 4", fillOpacity: 0.05,
                                    className: "moving-zone"}).addTo(map);
    }
  }
  for (const a of layers.alerts) {
    L.circleMarker([a.lat, a.lon], {radius: 5, color: "#e65100", fillOpacity: 0.9, className: "alert-point"}).addTo(map)
      .bindTooltip(text(t(a.kind) + " · " + t(a.event) + " · " + SA.fmtTime(a.at, page.locale, page.timezone)));
  }

  // -- distance chart ---------------------------------------------------------------------------------------
  const svg = document.getElementById("chart");
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 260, L0 = 56, R0 = 12, T0 = 12, B0 = 28;
  const d = layers.distance;
  const times = d.t.map(x => Date.parse(x));
  const series = [["his", d.to_zone_m || []]].concat(d.between_m ? [["between", d.between_m]] : []);
  const values = series.flatMap(([, v]) => v).filter(v => v !== null);
  if (layers.min_distance_m && d.between_m) values.push(layers.min_distance_m);
  const s = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; svg.append(e); return e; };
  if (!times.length || !values.length) {
    const why = times.length && !zones.length ? "hidden" : "no_data";
    s("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis", id: "chart-empty"}, t(why));
  } else {
    const t0 = Math.min(...times), t1 = Math.max(...times) || t0 + 1;
    // round ticks: a step of 1, 2 or 5 times a power of ten, about four of them
    const raw = (Math.max(1, ...values) - Math.min(0, ...values)) / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(k => k * mag).find(k => k >= raw);
    const lo = Math.floor(Math.min(0, ...values) / step) * step, hi = Math.ceil(Math.max(1, ...values) / step) * step;
    const x = (v) => L0 + (W - L0 - R0) * (t1 === t0 ? 0.5 : (v - t0) / (t1 - t0));
    const y = (v) => T0 + (H - T0 - B0) * (1 - (v - lo) / (hi - lo || 1));
    for (let v = lo; v <= hi + step / 2; v += step) {
      s("line", {x1: L0, x2: W - R0, y1: y(v), y2: y(v), class: "grid"});
      s("text", {x: L0 - 6, y: y(v) + 4, "text-anchor": "end", class: "axis"}, Math.round(v) + " " + t("meters"));
    }
    [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]].forEach(([v, anchor]) => {
      s("text", {x: x(v), y: H - 8, "text-anchor": anchor, class: "axis"},
        SA.fmtTime(new Date(v).toISOString(), page.locale, page.timezone).slice(-8));
    });
    s("line", {x1: L0, x2: W - R0, y1: y(0), y2: y(0), class: "zero"});
    if (layers.min_distance_m && d.between_m) {
      s("line", {x1: L0, x2: W - R0, y1: y(layers.min_distance_m), y2: y(layers.min_distance_m), class: "limit"});
    }
    for (const [name, v] of series) {
      let path = "", pen = "M";
      v.forEach((val, i) => { if (val === null) { pen = "M"; return; } path += pen + x(times[i]).toFixed(1) + "," + y(val).toFixed(1) + " "; pen = "L"; });
      if (path) s("path", {d: path, class: "series " + name});
    }
  }

  // -- the window's reports: listed when the officer opens the list (thousands of rows: not before) ---------
  const reports = document.getElementById("reports");
  reports.addEventListener("toggle", () => {
    const body = reports.querySelector("tbody");
    if (!reports.open || body.childElementCount) return;
    const zone = new Intl.DateTimeFormat("sv-SE", {timeZone: page.timezone, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
    const rows = layers.reports.map(([ts, device, acc, flags]) => el("tr", {},
      el("td", {}, zone.format(new Date(ts))), el("td", {}, device),
      el("td", {}, acc === null ? "—" : Math.round(acc) + " " + t("meters")), el("td", {}, flags)));
    body.append(...rows);
  });

  // -- evidence download (the order's court) ---------------------------------------------------------------
  const form = document.getElementById("export-form");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = document.getElementById("export-status");
    const r = await SA.api("POST", form.dataset.url, {reason: document.getElementById("export-reason").value});
    if (!r.ok) { status.textContent = t("failed", {why: await SA.problem(r)}); return; }
    const name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [, "evidence.zip"])[1];
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", {href: url, download: name});
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status.textContent = t("exported", {name});
  });
})();
