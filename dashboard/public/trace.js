// One file's trace as a waterfall, drawn from /api/trace/<traceId> (the dashboard reads it from
// Jaeger's query API). Every string goes into the DOM as a text node or an attribute value, never
// as HTML: span names and attributes carry file names and keys, which are user input.

const ms = (x) => `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString("en-US")} ms`;
/** Short names for the attributes a row shows when expanded. */
const LABELS = {
  "cloud.provider": "cloud",
  "ferry.store.kind": "store kind",
  "ferry.store.bucket": "bucket",
  "ferry.store.key": "key",
  "ferry.file_id": "file id",
  "ferry.chunk_index": "chunk index",
  "messaging.nats.message.delivery_count": "delivery count",
};
/** How often the page asks again while Jaeger has not received the trace yet, and for how long. */
const RETRY_MS = 2000;
const RETRY_FOR_MS = 60_000;

function setStatus(text, cls) {
  const s = $("trace-status");
  s.textContent = text;
  s.className = `pill ${cls}`;
}

function card(label, value, cls) {
  return el(
    "div",
    { class: `card ${cls || ""}` },
    el("div", { class: "label" }, label),
    el("div", { class: "value" }, value),
  );
}

function attributeList(span) {
  return el(
    "dl",
    { class: "attrs" },
    span.attributes.flatMap((a) => [el("dt", {}, LABELS[a.key] || a.key), el("dd", { class: "mono" }, a.value)]),
  );
}

function row(span, total) {
  const left = total > 0 ? (span.startMs / total) * 100 : 0;
  const width = total > 0 ? Math.max((span.durationMs / total) * 100, 0.3) : 100;
  const cloud = span.attributes.find((a) => a.key === "cloud.provider");
  const head = el(
    "div",
    {
      class: "span-head",
      role: "row",
      tabindex: "0",
      title: span.attributes.map((a) => `${LABELS[a.key] || a.key}: ${a.value}`).join("\n") || null,
    },
    el(
      "div",
      { class: "span-name", role: "cell" },
      el("span", { class: "indent", "data-depth": span.depth }),
      el("span", { class: "service" }, span.service),
      " ",
      el("span", { class: "operation" }, span.operation),
      cloud ? el("span", { class: "cloud muted" }, ` @${cloud.value}`) : null,
    ),
    el("div", { class: "num span-start", role: "cell" }, ms(span.startMs)),
    el("div", { class: "num span-duration", role: "cell" }, ms(span.durationMs)),
    el("div", { class: "span-track", role: "cell" }, el("div", { class: "span-bar" })),
  );
  // Inline styles are set through the CSSOM, which the page's Content-Security-Policy allows.
  head.querySelector(".indent").style.width = `${span.depth * 14}px`;
  const bar = head.querySelector(".span-bar");
  bar.style.left = `${left}%`;
  bar.style.width = `${Math.min(width, 100 - left)}%`;
  const details = el(
    "div",
    { class: "span-details", hidden: "" },
    span.errorMessage ? el("div", { class: "reason" }, span.errorMessage) : null,
    span.attributes.length ? attributeList(span) : el("div", { class: "muted" }, "no key attributes"),
    el("div", { class: "mono muted small" }, `span ${span.spanId}`),
  );
  const toggle = () => {
    details.hidden = !details.hidden;
  };
  head.addEventListener("click", toggle);
  head.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    toggle();
  });
  return el(
    "div",
    {
      class: `span${span.error ? " error" : ""}`,
      "data-span-id": span.spanId,
      "data-service": span.service,
      "data-depth": span.depth,
    },
    head,
    span.error && span.errorMessage ? el("div", { class: "reason span-error" }, span.errorMessage) : null,
    details,
  );
}

function render(t) {
  const errors = t.spans.filter((s) => s.error).length;
  const services = new Set(t.spans.map((s) => s.service));
  $("trace-summary").replaceChildren(
    card("spans", t.spans.length.toLocaleString("en-US")),
    card("services", services.size),
    card("duration", ms(t.durationMs)),
    card("errors", errors, errors > 0 ? "bad" : "ok"),
    card("started", new Date(t.startedAt).toLocaleTimeString("en-GB", { hour12: false })),
  );
  const axis = el(
    "div",
    { class: "span-head axis", role: "row" },
    el("div", { role: "columnheader" }, "service · operation"),
    el("div", { class: "num", role: "columnheader" }, "start"),
    el("div", { class: "num", role: "columnheader" }, "duration"),
    el(
      "div",
      { class: "span-track ticks", role: "columnheader" },
      [0, 0.25, 0.5, 0.75, 1].map((f) => el("span", {}, ms(f * t.durationMs))),
    ),
  );
  $("waterfall").replaceChildren(axis, ...t.spans.map((s) => row(s, t.durationMs)));
  $("trace-empty").hidden = true;
  setStatus(errors > 0 ? `${errors} error${errors === 1 ? "" : "s"}` : "ok", errors > 0 ? "bad" : "ok");
}

function showEmpty(text) {
  const e = $("trace-empty");
  e.textContent = text;
  e.hidden = false;
}

async function load(traceId, since) {
  let res;
  try {
    res = await fetch(`/api/trace/${encodeURIComponent(traceId)}`, { cache: "no-store" });
  } catch {
    setStatus("dashboard not answering", "bad");
    showEmpty("The dashboard did not answer: is ferry up still running?");
    return;
  }
  if (res.ok) {
    render(await res.json());
    return;
  }
  const body = await res.json().catch(() => ({}));
  if (res.status === 404 && /not received/.test(body.error || "") && Date.now() - since < RETRY_FOR_MS) {
    setStatus("waiting for spans…", "warn");
    showEmpty("Jaeger has not received this trace yet; spans arrive within a few seconds.");
    setTimeout(() => load(traceId, since), RETRY_MS);
    return;
  }
  setStatus(res.status === 404 ? "not found" : "error", "bad");
  showEmpty(body.error || `the dashboard answered ${res.status}`);
}

const traceId = decodeURIComponent(location.pathname.replace(/^\/trace\//, "").replace(/\/+$/, ""));
$("trace-id").textContent = traceId;
document.title = `ferry trace ${traceId}`;
// load() reports every failure on the page itself.
void load(traceId, Date.now());
