// Building the page: every element is made with createElement and every
// value is set with textContent or a DOM property, never parsed as HTML, so
// text that came from SIP (display names, User-Agents, numbers, traced
// messages) can never become markup or script.

// h("tr", {class: "x", onclick: fn}, "text", child, [more children])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.className = v;
    } else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") {
      el[k] = v;
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else {
      // Attribute names are ours; values are strings, never markup.
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// "2026-12-07T10:52:25.541467Z" -> "2026-12-07 10:52:25"
export function fmtTime(iso) {
  if (!iso) return "";
  return String(iso).replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "");
}

export function fmtDuration(ms) {
  const s = Math.floor((ms || 0) / 1000);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return (hh ? hh + ":" + String(mm).padStart(2, "0") : String(mm)) + ":" + String(ss).padStart(2, "0");
}

export function fmtNum(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toFixed(digits);
}

// Any value as one line of text (arrays joined, objects as JSON).
export function text(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(text).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// A table of rows; columns are [key, title, render?]. render returns text
// or a Node.
export function table(columns, rows, opts = {}) {
  const head = h("tr", null, columns.map(([, title]) => h("th", null, title)));
  const body = h("tbody");
  for (const row of rows) {
    const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(row) : null);
    for (const [key, , render] of columns) {
      const v = render ? render(row) : text(row[key]);
      tr.append(h("td", { "data-col": key }, v));
    }
    body.append(tr);
  }
  if (!rows.length) {
    body.append(h("tr", null, h("td", { colspan: columns.length, class: "empty" }, opts.empty || "nothing here")));
  }
  return h("div", { class: "tablewrap" }, h("table", { class: "grid" }, h("thead", null, head), body));
}

export function button(label, onclick, cls = "") {
  return h("button", { type: "button", class: cls, onclick }, label);
}

// A message line under a heading: kind "error" | "ok" | "info".
export function note(kind, message) {
  return h("p", { class: "note " + kind, role: kind === "error" ? "alert" : "status" }, message);
}
