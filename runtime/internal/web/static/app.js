// The history page: plain DOM, no framework, no external assets.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

const fmtTime = (t) => new Date(t).toLocaleString();
const fmtDur = (ns) => (ns / 1e9).toFixed(2) + " s";

async function loadRuns(selectId) {
  const [status, runs] = await Promise.all([getJSON("api/status"), getJSON("api/runs?limit=50")]);
  const st = $("#status");
  if (!status.ready) { st.textContent = "no complete run yet"; st.className = "pill"; }
  else if (status.last_run) { st.textContent = "last run " + status.last_run.result; st.className = "pill " + status.last_run.result; }
  const body = $("#runs tbody");
  body.replaceChildren();
  for (const r of runs) {
    const tr = el("tr", { class: "run", "data-id": r.id, onclick: () => showRun(r.id) },
      el("td", {}, fmtTime(r.started_at)), el("td", { class: r.result }, r.result),
      el("td", {}, r.passed), el("td", {}, r.failed), el("td", {}, r.skipped),
      el("td", {}, fmtDur(r.duration_ns)), el("td", {}, r.trigger || ""));
    body.append(tr);
  }
  // Show the chosen run, else the newest run that failed or broke, else the newest.
  const pick = selectId || (runs.find((r) => r.result !== "passed") || runs[0] || {}).id;
  if (pick) await showRun(pick);
}

async function showRun(id) {
  const run = await getJSON("api/runs/" + encodeURIComponent(id));
  for (const tr of document.querySelectorAll("#runs tr.run")) tr.classList.toggle("selected", tr.dataset.id === id);
  $("#run-detail").hidden = false;
  $("#run-id").textContent = fmtTime(run.started_at) + " — " + run.result;
  $("#run-error").replaceChildren(run.error ? el("pre", { class: "error" }, run.error) : "");
  const box = $("#failures");
  box.replaceChildren();
  for (const s of (run.specs || []).filter((s) => !["passed", "skipped", "pending"].includes(s.state))) {
    box.append(el("div", { class: "spec-failure" },
      el("div", { class: "spec-name", onclick: () => showHistory(s.name) }, s.name),
      el("div", { class: "spec-state" }, s.state + " at " + (s.location || "")),
      el("pre", { class: "spec-message" }, s.message || ""),
      s.output ? el("details", {}, el("summary", {}, "output"), el("pre", { class: "spec-output" }, s.output)) : ""));
  }
  if (!box.children.length && run.result === "passed") box.append(el("p", { class: "passed" }, "All " + run.passed + " specs passed."));
  $("#run-output").textContent = run.output || "";
}

async function showHistory(name) {
  const hist = await getJSON("api/specs/history?limit=100&name=" + encodeURIComponent(name));
  $("#history").hidden = false;
  $("#history-name").textContent = name;
  const body = $("#history-table tbody");
  body.replaceChildren(...hist.map((s) => el("tr", {},
    el("td", {}, fmtTime(s.started_at)), el("td", { class: s.state === "passed" ? "passed" : "failed" }, s.state),
    el("td", {}, fmtDur(s.duration_ns)), el("td", {}, el("pre", {}, s.message || "")))));
}

async function loadFlaky() {
  const flaky = await getJSON("api/flaky?runs=50");
  $("#flaky tbody").replaceChildren(...flaky.map((f) => el("tr", {},
    el("td", { class: "spec-name", onclick: () => showHistory(f.name) }, f.name), el("td", {}, f.flips),
    el("td", {}, f.failures), el("td", {}, f.runs), el("td", {}, f.last_state))));
}

$("#rerun").addEventListener("click", async () => {
  $("#rerun").disabled = true;
  try {
    const r = await fetch("rerun?wait=true", { method: "POST" });
    const run = await r.json();
    await loadRuns(run.id);
    await loadFlaky();
  } finally { $("#rerun").disabled = false; }
});

Promise.all([loadRuns(), loadFlaky()]).catch((e) => { $("#status").textContent = String(e); });
setInterval(() => { if (!document.hidden) loadFlaky(); }, 30000);
