// The ferry dashboard page: receives a state snapshot every second over Server-Sent Events
// (/api/events) and redraws. Every string goes into the DOM as a text node or an attribute value,
// never as HTML: file names and reasons are user input.

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
const rate = (n) => `${bytes(n)}/s`;
const int = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const pct = (x) => `${(x * 100).toFixed(1)} %`;
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString("en-GB", { hour12: false }) : "–");

function duration(ms) {
  if (!(ms >= 0)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s ? `${m} min ${s} s` : `${m} min`;
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

/** The file's trace drawn by this dashboard, and a small link to Jaeger's own UI for a Jaeger that has one. */
function traceLinks(f) {
  if (!f.traceId || !/^[0-9a-f]{32}$/.test(f.traceId)) return el("span", { class: "muted" }, "–");
  return el(
    "span",
    { class: "trace-links" },
    el("a", { href: `/trace/${f.traceId}`, class: "trace-link" }, "trace"),
    " ",
    /^https?:\/\//i.test(f.traceUrl || "")
      ? el(
          "a",
          {
            href: f.traceUrl,
            target: "_blank",
            rel: "noopener noreferrer",
            class: "small muted jaeger-link",
            title: "in Jaeger's own UI, when your Jaeger has one",
          },
          "jaeger",
        )
      : null,
  );
}

const SEVERITY_CLASS = { minor: "warn", moderate: "warn", severe: "bad" };
const STATE_CLASS = { complete: "ok", failed: "bad", ingesting: "busy", processing: "busy", durable: "warn" };

function card(label, value, cls, hint) {
  return el(
    "div",
    { class: `card ${cls || ""}` },
    el("div", { class: "label" }, label),
    el("div", { class: "value" }, value),
    hint ? el("div", { class: "hint" }, hint) : null,
  );
}

/** The latest scrub pass: replicas checked, and how many had to be written again. */
function scrubCard(r) {
  if (!r) return card("scrub", "none yet", "", "./ferry scrub, or the background pass (scrubEvery)");
  const of = r.asked === null ? "?" : int(r.asked);
  const state = r.finishedAt ? `finished ${clock(r.finishedAt)}` : `running since ${clock(r.startedAt)}`;
  return card(
    "scrub",
    `${int(r.repairedCount)} repaired`,
    r.repairedCount > 0 ? "warn" : "ok",
    `${int(r.checked)} / ${of} replicas checked, ${state}`,
  );
}

function renderSummary(s) {
  const b = s.bottleneck;
  const dead = s.deadLetters.stored;
  $("summary").replaceChildren(
    card("files in flight", int(s.files.inFlight), s.files.inFlight > 0 ? "busy" : ""),
    card("complete", int(s.files.complete), "ok"),
    card("durable only", int(s.files.durable), s.files.durable > 0 ? "warn" : "", "held by fewer clouds than wanted"),
    card("failed", int(s.files.failed), s.files.failed > 0 ? "bad" : ""),
    card("dead letters", int(dead), dead > 0 ? "bad" : dead === 0 ? "ok" : ""),
    scrubCard(s.scrub),
    b
      ? card(
          "bottleneck",
          `${b.stage} · ${pct(b.share)}`,
          SEVERITY_CLASS[b.severity],
          `${b.severity}: share of pipeline time, last ${duration(s.bottleneckWindowMs)}`,
        )
      : card(
          "bottleneck",
          "none",
          "ok",
          `no stage above 25 % of pipeline time, last ${duration(s.bottleneckWindowMs)}`,
        ),
  );
}

function linkBadge(linked) {
  if (linked === true) return el("span", { class: "pill ok" }, "linked");
  if (linked === false) return el("span", { class: "pill bad" }, "NOT LINKED");
  return el("span", { class: "pill neutral" }, "unknown");
}

function renderTopology(s) {
  const hub = el(
    "div",
    { class: "node hub" },
    el(
      "div",
      { class: "node-head" },
      el("strong", {}, "hub"),
      el("span", { class: `pill ${s.hub.monitoring ? "ok" : "bad"}` }, s.hub.monitoring ? "up" : "not answering"),
    ),
    el("div", { class: "mono muted" }, s.hub.url),
    el(
      "div",
      {},
      `orchestrator: ${s.hub.orchestrators} running`,
      s.hub.lag ? ` · ${int(s.hub.lag.pending)} events waiting` : "",
    ),
  );
  // The server lists the stages in pipeline order; the page knows none of their names.
  const stages = s.stages.map((st) => st.stage);
  const leaves = s.leaves.map((l) =>
    el(
      "div",
      { class: `node leaf ${l.linked === false ? "cut" : ""}`, "data-cloud": l.cloud },
      el("div", { class: "node-head" }, el("strong", {}, l.cloud), linkBadge(l.linked)),
      el("div", { class: "mono muted" }, l.url),
      el(
        "div",
        { class: "workers" },
        stages.map((st) => el("span", { class: l.workers[st] > 0 ? "" : "bad-text" }, `${st} ${l.workers[st]}`)),
      ),
      el("div", {}, `${int(l.replicas)} replicas · ${bytes(l.replicaBytes)}`),
    ),
  );
  $("topology").replaceChildren(hub, el("div", { class: "leaves" }, leaves));
}

function renderStages(s) {
  const rows = s.stages.map((st) => {
    const hot = s.bottleneck && s.bottleneck.stage === st.stage ? SEVERITY_CLASS[s.bottleneck.severity] : "";
    const byCloud = st.lagByCloud.map((l) => `${l.cloud} ${l.pending}/${l.ackPending}`).join(" · ");
    return el(
      "tr",
      { "data-stage": st.stage, class: hot ? `hot ${hot}` : "" },
      el("td", {}, st.stage),
      el("td", { class: "num" }, rate(st.bytesPerSec)),
      el("td", { class: "num" }, st.chunksPerSec.toFixed(1)),
      el(
        "td",
        {},
        el(
          "div",
          { class: "share" },
          el("progress", { max: 1, value: st.share }),
          el("span", { class: "num" }, pct(st.share)),
        ),
      ),
      el(
        "td",
        { class: "num", title: byCloud ? `waiting/in progress per cloud: ${byCloud}` : null },
        st.lag ? int(st.lag.pending) : "–",
      ),
      el("td", { class: "num" }, st.lag ? int(st.lag.ackPending) : "–"),
      el("td", { class: `num ${st.workers > 0 ? "" : "bad-text"}` }, int(st.workers)),
    );
  });
  $("stages").tBodies[0].replaceChildren(...rows);
  $("stages-note").textContent =
    `Throughput over the last ${duration(s.rateWindowMs)}; share of pipeline time over the last ${duration(s.bottleneckWindowMs)}. ` +
    "Ingest's queue is shared by every cloud and lives on the hub." +
    (s.historyLoaded ? "" : " Reading the event history…");
}

function renderFiles(s) {
  const now = Date.parse(s.at);
  const rows = s.files.rows.map((f) => {
    const total = f.chunkCount ?? f.chunkCountEstimate ?? null;
    const totalText = f.chunkCount !== null ? int(f.chunkCount) : total !== null ? `~${int(total)}` : "?";
    const took = f.completedAt ? Date.parse(f.completedAt) - Date.parse(f.createdAt) : now - Date.parse(f.createdAt);
    return el(
      "tr",
      { "data-file-id": f.fileId, "data-state": f.state },
      el(
        "td",
        {},
        el("div", { class: "name", title: f.name }, f.name || "(unnamed)"),
        el("div", { class: "mono muted small" }, f.fileId),
      ),
      el(
        "td",
        {},
        el("span", { class: `pill ${STATE_CLASS[f.state] || "neutral"}` }, f.state),
        f.reason ? el("div", { class: "reason" }, f.reason) : null,
        f.heldBy ? el("div", { class: "reason" }, `held by ${f.heldBy.join(", ") || "no one cloud"}`) : null,
      ),
      el(
        "td",
        {},
        el(
          "div",
          { class: "progress" },
          el("progress", { max: total || 1, value: total ? f.chunksComplete : 0 }),
          el("span", { class: "progress-text num" }, `${int(f.chunksComplete)} / ${totalText}`),
        ),
      ),
      el("td", { class: "num" }, bytes(f.size)),
      el("td", { class: "num" }, duration(took)),
      el("td", {}, traceLinks(f)),
    );
  });
  $("files").tBodies[0].replaceChildren(...rows);
  const shown = s.files.rows.length;
  $("files-note").textContent =
    shown === 0
      ? "No files yet: ./ferry ingest <file>"
      : `${int(s.files.inFlight + s.files.durable)} unfinished and the ${shown - s.files.inFlight - s.files.durable} most recently finished of ${int(s.files.total)} files.`;
}

function renderDeadLetters(s) {
  const items = s.deadLetters.latest.map((d) =>
    el(
      "li",
      {},
      el("span", { class: "mono muted" }, clock(d.at)),
      " ",
      el("strong", {}, `${d.stage}@${d.cloud}`),
      " ",
      d.fileId ? el("span", { class: "mono" }, `${d.fileId}${d.index === undefined ? "" : ` chunk ${d.index}`}`) : null,
      el("div", { class: "reason" }, d.reason),
    ),
  );
  $("dead-letters").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "none")]));
}

let lastMessageAt = 0;
function render(s) {
  lastMessageAt = Date.now();
  $("updated").textContent = clock(s.at);
  $("updated").setAttribute("datetime", s.at);
  renderSummary(s);
  renderTopology(s);
  renderStages(s);
  renderFiles(s);
  renderDeadLetters(s);
}

function setConn(text, cls) {
  const c = $("conn");
  c.textContent = text;
  c.className = `pill ${cls}`;
}

const events = new EventSource("/api/events");
events.onopen = () => setConn("live", "ok");
events.onerror = () => setConn("reconnecting…", "warn");
events.onmessage = (m) => {
  setConn("live", "ok");
  render(JSON.parse(m.data));
};
setInterval(() => {
  if (lastMessageAt && Date.now() - lastMessageAt > 5000) setConn("stale: no update for 5 s", "warn");
}, 1000);
