// DOM helpers shared by the dashboard's pages (loaded before app.js and trace.js). Strings become
// text nodes or attribute values, never HTML.

/** Creates an element; children that are not nodes become text nodes. */
// biome-ignore lint/correctness/noUnusedVariables: a global of app.js and trace.js, which load after this file
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// biome-ignore lint/correctness/noUnusedVariables: a global of app.js and trace.js, which load after this file
const $ = (id) => document.getElementById(id);
