// The local console: fills the page shell from its JSON endpoint, and asks again every few seconds
// until nothing on the page is running. No inline script or style (the page's CSP forbids both).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const root = document.getElementById("console");
  const api = root.dataset.api;
  const base = root.dataset.base;
  const STATUS_TEXT = {
    not_reached: "not reached", running: "running", succeeded: "succeeded",
    failed: "failed", caught: "caught", retried: "retried",
  };
  let layout = null;   // the drawn graph: kept across refreshes, only its classes change
  let selected = null; // the state whose visits the side panel shows

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  function badge(status, text) {
    return el("span", { class: "status status-" + status }, text || STATUS_TEXT[status] || status);
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(seconds);
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  function pretty(text) {
    if (text === null || text === undefined || text === "") return "";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return String(text); }
  }

  function executionHref(arn) {
    return base + "/executions/" + encodeURIComponent(arn);
  }

  async function refresh() {
    let document_;
    try {
      const response = await fetch(api, { cache: "no-store" });
      document_ = await response.json();
      if (!response.ok) throw new Error(document_.message || response.status);
    } catch (error) {
      // Keep what is shown; say it is stale, and try again.
      const notice = document.getElementById("load-error") || el("p", { class: "error", id: "load-error" });
      notice.textContent = "Could not refresh (" + error + "); trying again.";
      root.prepend(notice);
      setTimeout(refresh, 5000);
      return;
    }
    const stale = document.getElementById("load-error");
    if (stale) stale.remove();
    if (root.dataset.page === "list") renderList(document_);
    else renderExecution(document_);
    root.dataset.done = String(document_.done);
    if (!document_.done) setTimeout(refresh, document_.refresh_seconds * 1000);
  }

  // ---- the list ----------------------------------------------------------------------------------
  function renderList(doc) {
    const rows = doc.executions.map((item) => el("tr", { "data-arn": item.arn },
      el("td", {}, el("a", { href: executionHref(item.arn) }, item.name)),
      el("td", {}, item.pipeline),
      el("td", {}, el("code", {}, (item.sha || "").slice(0, 12))),
      el("td", {}, badge(item.status, item.status)),
      el("td", {}, when(item.started)),
      el("td", {}, duration(item.duration_seconds)),
      el("td", {}, item.current_state || "", " ",
        item.current_status && item.status === "RUNNING" ? badge(item.current_status) : null),
    ));
    root.replaceChildren(
      el("h1", {}, "Promotions"),
      rows.length ? el("table", { id: "executions" },
        el("thead", {}, el("tr", {}, ...["Execution", "Pipeline", "Commit", "Status", "Started", "Duration",
          "Current state"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)) : el("p", { class: "muted" }, "No promotions yet."),
    );
  }

  // ---- one execution -----------------------------------------------------------------------------
  function renderExecution(doc) {
    const ex = doc.execution;
    document.title = ex.name + " (" + ex.status.toLowerCase() + ")";
    if (layout === null) {
      root.replaceChildren(
        el("h1", {}, ex.name),
        el("div", { class: "summary", id: "summary" }),
        el("div", { class: "legend" }, ...Object.keys(STATUS_TEXT).map((s) => badge(s))),
        el("div", { class: "layout" },
          el("div", { class: "graph", id: "graph" }),
          el("div", { class: "side", id: "side" })),
        el("h2", {}, "Event history"),
        el("table", { class: "events", id: "events" }),
      );
      layout = drawGraph(doc.graph, document.getElementById("graph"));
    }
    paintGraph(doc);
    renderSummary(doc);
    renderSide(doc);
    renderEvents(doc.events);
  }

  function nodeSize(name) {
    return { width: Math.max(120, name.length * 7.2 + 28), height: 36 };
  }

  function drawGraph(graph, container) {
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 20, ranksep: 30, edgesep: 8, marginx: 16, marginy: 16, ranker: "network-simplex" });
    g.setDefaultEdgeLabel(() => ({}));
    for (const state of graph.states) g.setNode(state.name, { ...nodeSize(state.name), state });
    graph.transitions.forEach((t, i) => {
      const label = t.kind === "catch" ? "" : t.label;
      g.setEdge(t.source, t.target, {
        transition: t, label, width: label ? label.length * 5.6 : 0, height: label ? 12 : 0, labelpos: "c",
        // The happy path and its loops shape the drawing; the many ways into the failure states bend.
        weight: t.kind === "catch" ? 1 : 8,
      }, "t" + i);
    });
    dagre.layout(g);
    const size = g.graph();
    const canvas = svg("svg", {
      id: "graph-svg", width: size.width, height: size.height, viewBox: "0 0 " + size.width + " " + size.height,
    });
    const defs = svg("defs");
    for (const id of ["arrow", "arrow-taken"]) {
      const marker = svg("marker", {
        id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto",
      });
      marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
      defs.append(marker);
    }
    canvas.append(defs);
    const edges = {};
    for (const e of g.edges()) {
      const data = g.edge(e);
      const t = data.transition;
      const group = svg("g", { class: "edge kind-" + t.kind, "data-from": t.source, "data-to": t.target });
      const d = data.points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" ");
      group.append(svg("path", { d, "marker-end": "url(#arrow)" }));
      const title = svg("title");
      title.textContent = t.source + " → " + t.target + (t.label ? " (" + t.kind + ": " + t.label + ")" : "");
      group.append(title);
      if (data.label) {
        const text = svg("text", { x: data.x, y: data.y + 4, "text-anchor": "middle" });
        text.textContent = data.label;
        group.append(text);
      }
      canvas.append(group);
      (edges[t.source + "\u0000" + t.target] = edges[t.source + "\u0000" + t.target] || []).push(group);
    }
    const nodes = {};
    for (const name of g.nodes()) {
      const n = g.node(name);
      const state = n.state;
      const group = svg("g", {
        class: "node status-not_reached type-" + state.type + (name === graph.start_at ? " start" : ""),
        "data-state": name, "data-status": "not_reached",
        transform: "translate(" + (n.x - n.width / 2) + "," + (n.y - n.height / 2) + ")",
      });
      group.append(svg("rect", { width: n.width, height: n.height }));
      const text = svg("text", { x: n.width / 2, y: n.height / 2 + 4, "text-anchor": "middle" });
      text.textContent = name;
      const title = svg("title");
      title.textContent = state.type + (state.comment ? ": " + state.comment : "");
      group.append(text, title);
      group.addEventListener("click", () => { selected = name; refreshSide(); });
      canvas.append(group);
      nodes[name] = group;
    }
    container.replaceChildren(canvas);
    return { nodes, edges };
  }

  let lastDoc = null;
  function refreshSide() { if (lastDoc) { paintGraph(lastDoc); renderSide(lastDoc); } }

  function paintGraph(doc) {
    lastDoc = doc;
    for (const [name, group] of Object.entries(layout.nodes)) {
      const status = doc.states[name] || "not_reached";
      const classes = group.getAttribute("class").split(" ").filter((c) => !c.startsWith("status-") && c !== "selected");
      classes.push("status-" + status);
      if (name === selected) classes.push("selected");
      group.setAttribute("class", classes.join(" "));
      group.setAttribute("data-status", status);
    }
    // A step through a Catch lights the catch edge; any other step the Next, Choice or Default edge.
    const caught = new Map();
    for (const [from, to] of doc.caught_path) {
      const key = from + "\u0000" + to;
      caught.set(key, (caught.get(key) || 0) + 1);
    }
    const normal = new Set();
    const throughCatch = new Set(caught.keys());
    for (const [from, to] of doc.path) {
      const key = from + "\u0000" + to;
      if (caught.get(key)) caught.set(key, caught.get(key) - 1);
      else normal.add(key);
    }
    for (const [key, groups] of Object.entries(layout.edges)) {
      for (const group of groups) {
        const on = group.classList.contains("kind-catch") ? throughCatch.has(key) : normal.has(key);
        group.classList.toggle("taken", on);
        group.querySelector("path").setAttribute("marker-end", on ? "url(#arrow-taken)" : "url(#arrow)");
      }
    }
  }

  function renderSummary(doc) {
    const ex = doc.execution;
    const item = (label, ...value) => el("div", {}, el("span", {}, label), ...value);
    document.getElementById("summary").replaceChildren(
      item("Status", el("span", { id: "execution-status", class: "status status-" + ex.status }, ex.status)),
      item("Pipeline", ex.pipeline),
      item("Commit", el("code", {}, ex.sha)),
      item("Started", when(ex.started)),
      item("Duration", duration(ex.duration_seconds)),
      item("ARN", el("code", {}, ex.arn)),
    );
  }

  function renderSide(doc) {
    const sections = [];
    if (doc.failure) {
      sections.push(el("section", { id: "failure" }, el("h2", {}, "Failure"),
        el("p", { class: "error" }, doc.failure.error || "(no error name)"), el("pre", {}, pretty(doc.failure.cause))));
    }
    const a = doc.approval;
    if (a) {
      sections.push(el("section", { id: "approval" }, el("h2", {}, "Approval"),
        el("p", {}, badge(a.status === "pending" ? "running" : a.status === "approved" ? "succeeded" : "failed", a.status)),
        el("p", {}, "Asked: ", a.approvers.join(", "), " (", String(a.required_approvals), " needed)"),
        el("p", {}, "Until: ", when(a.expires_at)),
        a.approved_by.length ? el("p", {}, "Approved by: ", a.approved_by.join(", ")) : null,
        a.decided_by ? el("p", {}, "Decided by ", a.decided_by, " at ", when(a.decided_at),
          a.reason ? " (" + a.reason + ")" : "") : null,
        a.approval_reason ? el("p", { class: "muted" }, a.approval_reason) : null,
        ...Object.entries(a.inputs || {}).filter(([, values]) => Object.keys(values).length).map(([who, values]) =>
          el("table", { class: "inputs" }, el("caption", {}, "Filled in by ", who),
            ...Object.entries(values).map(([field, value]) => el("tr", {}, el("td", {}, field), el("td", {}, String(value))))))));
    }
    for (const report of doc.checks || []) {
      sections.push(el("section", { class: "checks", "data-suite": report.suite },
        el("h2", {}, report.suite === "canary" ? "Canary checks" : "Integration checks", " (", report.environment, ")"),
        el("table", {}, ...report.results.map((r) => el("tr", {},
          el("td", {}, badge(r.passed ? "succeeded" : "failed", r.passed ? "passed" : "failed")),
          el("td", {}, r.name), el("td", { class: "muted" }, r.source || "http"),
          el("td", {}, r.status === null || r.status === undefined ? "" : String(r.status)),
          el("td", {}, r.duration_ms + " ms"), el("td", { class: "muted" }, r.detail || ""))))));
    }
    if (doc.analysis) {
      const an = doc.analysis;
      const rate = (v) => (v === null || v === undefined ? "n/a" : (100 * v).toFixed(2) + " %");
      const ms = (v) => (v === null || v === undefined ? "n/a" : v.toFixed(1) + " ms");
      sections.push(el("section", { id: "analysis" }, el("h2", {}, "Canary analysis"),
        el("p", {}, badge(an.verdict === "pass" ? "succeeded" : an.verdict === "fail" ? "failed" : "running", an.verdict),
          " over the last ", String(an.window_seconds), " s", an.held ? " (held past the bake for a verdict)" : ""),
        el("table", {}, el("tr", {}, ...["function", "versions", "invocations", "error rate", "p99", "verdict"].map((h) => el("th", {}, h))),
          ...an.functions.map((f) => el("tr", {}, el("td", {}, f.key),
            el("td", {}, "v" + f.new.version + " vs v" + f.previous.version),
            el("td", {}, f.new.invocations + " / " + f.previous.invocations),
            el("td", {}, rate(f.new.error_rate) + " / " + rate(f.previous.error_rate)),
            el("td", {}, ms(f.new.p99_ms) + " / " + ms(f.previous.p99_ms)),
            el("td", {}, f.verdict, el("br", {}), el("span", { class: "muted" }, f.reason)))))));
    }
    if (doc.traffic) {
      const pct = doc.traffic.percent !== undefined ? doc.traffic.percent : null;
      sections.push(el("section", { id: "traffic" }, el("h2", {}, "Prod traffic on the new version"),
        pct === null ? null : el("div", { class: "bar" }, el("div", { class: "bar-fill w-" + Math.round(pct / 5) * 5 + (doc.traffic.done ? " done" : "") })),
        el("p", {}, pct === null ? "" : pct + " %", doc.traffic.done ? " (all shifted)" : "")));
    }
    if (doc.window) {
      const w = doc.window;
      sections.push(el("section", { id: "window" }, el("h2", {}, "Prod deployment window"),
        el("p", {}, badge(w.open ? "succeeded" : "running", w.open ? "open" : "closed"), " ", w.reason || ""),
        w.open ? null : el("p", {}, "Opens: ", when(w.opens_at), " (", w.opens_at || "never", ")"),
        w.open ? null : el("p", {}, "Next check: ", when(w.wait_until)),
        w.override ? el("p", {}, "Overridden by ", w.override.by, ": ", w.override.reason) : null));
    }
    if (doc.bake) {
      const b = doc.bake;
      const total = b.duration_seconds || 0;
      const pct = total ? Math.min(100, Math.round((100 * (b.elapsed_seconds || 0)) / total)) : 0;
      sections.push(el("section", { id: "bake" }, el("h2", {}, "Bake"),
        el("div", { class: "bar" }, el("div", { class: "bar-fill w-" + Math.round(pct / 5) * 5 + (b.done ? " done" : "") })),
        el("p", {}, (b.elapsed_seconds || 0) + " s of " + (total || "?") + " s", b.done ? " (done)" : ""),
        b.alarms ? el("table", {}, ...Object.entries(b.alarms).map(([name, value]) =>
          el("tr", {}, el("td", {}, name), el("td", {}, value)))) : null));
    }
    const name = selected || (doc.visits.length ? doc.visits[doc.visits.length - 1].state : null);
    if (name) {
      const visits = doc.visits.filter((v) => v.state === name);
      sections.push(el("section", { id: "state" }, el("h2", {}, name, " ", badge(doc.states[name] || "not_reached")),
        visits.length ? null : el("p", { class: "muted" }, "Not reached."),
        ...visits.map((v, i) => el("div", { class: "visit" },
          visits.length > 1 ? el("p", { class: "muted" }, "Visit " + (i + 1) + " of " + visits.length) : null,
          el("p", {}, "Entered ", when(v.entered_at), v.exited_at ? ", left " + when(v.exited_at) : "",
            v.attempts > 1 ? " (" + v.attempts + " attempts)" : ""),
          ...v.failures.map((f) => el("div", {}, el("p", { class: "error" }, f.error), el("pre", {}, pretty(f.cause)))),
          el("details", { "data-key": name + "/" + i + "/input" }, el("summary", {}, "Input"), el("pre", {}, pretty(v.input))),
          v.output !== null ? el("details", { "data-key": name + "/" + i + "/output" }, el("summary", {}, "Output"),
            el("pre", {}, pretty(v.output))) : null))));
    }
    // A refresh keeps open what the reader opened.
    const side = document.getElementById("side");
    const open = new Set([...side.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    side.replaceChildren(...sections);
    for (const details of side.querySelectorAll("details")) details.open = open.has(details.dataset.key);
  }

  function renderEvents(events) {
    const table = document.getElementById("events");
    if (table.dataset.count === String(events.length)) return;
    table.dataset.count = String(events.length);
    table.replaceChildren(
      el("thead", {}, el("tr", {}, ...["#", "Type", "State", "Time", "Detail"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...events.map((e) => el("tr", {},
        el("td", {}, String(e.id)), el("td", {}, e.type), el("td", {}, e.state), el("td", {}, when(e.timestamp)),
        el("td", {}, e.detail ? el("details", {}, el("summary", {}, "details"), el("pre", {}, pretty(e.detail))) : "")))));
  }

  refresh();
})();
