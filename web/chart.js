// Small line charts of the last hour, drawn as SVG by hand: a polyline of
// the points scaled into a fixed box, the newest value and the peak.
import { svg, h, fmtNum } from "./dom.js";

const W = 300, H = 60;

export function sparkline(title, points, key, unit = "", digits = 1) {
  const vals = points.map((p) => p[key]).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...vals);
  const n = points.length;
  let d = "";
  points.forEach((p, i) => {
    const v = p[key];
    if (v === null || v === undefined) return;
    const x = n > 1 ? (i / (n - 1)) * W : W;
    const y = H - 2 - (v / max) * (H - 6);
    d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
  });
  const now = vals.length ? vals[vals.length - 1] : null;
  const pic = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "spark", role: "img", "aria-label": title },
    svg("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "axis" }),
    d ? svg("path", { d, class: "line" }) : null);
  return h("figure", { class: "chart", "data-chart": key },
    h("figcaption", null, title, h("span", { class: "now" }, now === null ? "–" : fmtNum(now, digits) + unit),
      h("span", { class: "peak" }, "peak " + (vals.length ? fmtNum(max, digits) + unit : "–"))),
    pic,
    h("div", { class: "span" }, n ? `last ${Math.round((n * 10) / 60)} min` : "collecting samples (every 10 s)"));
}
