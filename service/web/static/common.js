// stayaway web app: what every page's script shares. No framework, no build step.
"use strict";
const SA = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const T = document.getElementById("i18n") ? json("i18n") : {};
  const locale = document.getElementById("locale");  // the language picker: a choice sends its form
  if (locale) locale.addEventListener("change", () => locale.form.submit());
  // a translated string; "%(name)s" placeholders filled from vars
  const t = (key, vars) => (T[key] || key).replace(/%\((\w+)\)s/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  // the API, signed in by the page's cookie; every change carries the page's CSRF token
  async function api(method, url, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
    const r = await fetch(url, {method, headers, credentials: "same-origin",
                                body: body === undefined ? undefined : JSON.stringify(body)});
    if (r.status === 401) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); throw new Error("signed out"); }
    return r;
  }
  async function problem(r) {
    try { const b = await r.json(); return (b.error && (b.error.message || b.error.code)) || r.statusText; }
    catch (e) { return r.statusText || String(r.status); }
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function fmtTime(iso, locale, timeZone) {
    return new Intl.DateTimeFormat(locale, {timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}).format(new Date(iso));
  }
  function fmtSpan(seconds) {
    const s = Math.max(0, Math.round(seconds)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  }
  return {api, problem, el, t, json, fmtTime, fmtSpan};
})();
