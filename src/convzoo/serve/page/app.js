// The page: pick images and models, POST each image to /v1/predict, show one card
// per model (its decision, top-5, time, Grad-CAM overlay), and redraw the accuracy/latency chart.
"use strict";

const $ = (selector) => document.querySelector(selector);
const fileInput = $("#file"), runButton = $("#run"), statusLine = $("#status");
let chosenFiles = [];

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

async function loadModels() {
  const response = await fetch("/v1/models");
  const { models } = await response.json();
  const box = $("#models");
  box.textContent = "";
  models.forEach((model, i) => {
    const label = element("label");
    const box_ = element("input", { type: "checkbox", name: "model", value: model.name });
    box_.checked = i === 0;
    label.append(box_, " " + model.name + " ");
    const acc = model.acc1 == null ? "" : `${model.acc1.toFixed(1)}% top-1`;
    label.append(element("span", { class: "acc" }, [acc, model.offline ? "" : "download on first use"]
      .filter(Boolean).join(", ")));
    if (model.classes) {  // a fine-tuned checkpoint: its own classes and decision rule
      label.append(element("span", { class: "classes" },
        ` fine-tuned: ${model.classes.join(", ")}; decides by ${model.decision}`));
    }
    box.append(label);
  });
  updateRunButton();
}

function chosenModels() {
  return [...document.querySelectorAll("#models input:checked")].map((box) => box.value);
}

function updateRunButton() {
  runButton.disabled = chosenFiles.length === 0 || chosenModels().length === 0;
}

function chooseFiles(files) {
  chosenFiles = [...files].filter((f) => f.type === "" || f.type.startsWith("image/"));
  const previews = $("#previews");
  previews.textContent = "";
  for (const file of chosenFiles) {
    previews.append(element("img", { src: URL.createObjectURL(file), alt: file.name, title: file.name }));
  }
  updateRunButton();
}

function resultCard(result) {
  const card = element("div", { class: "result", "data-model": result.model });
  const title = element("h3", {}, result.model + " ");
  title.append(element("span", { class: "ms" }, `${result.ms.toFixed(1)} ms`));
  card.append(title);
  if (result.decision != null) {
    const p = result.probability == null ? "" : ` (${(100 * result.probability).toFixed(1)}%)`;
    card.append(element("p", { class: "decision" }, `decision: ${result.decision}${p}`));
  }
  const list = element("ol", { class: "topk" });
  for (const entry of result.topk) {
    const item = element("li", {}, `${entry.label} ${(100 * entry.probability).toFixed(1)}%`);
    item.append(element("span", { class: "bar", style: `width:${Math.round(120 * entry.probability)}px` }));
    list.append(item);
  }
  card.append(list);
  if (result.heatmap) {
    card.append(element("img", { class: "heatmap", src: result.heatmap,
      alt: `Grad-CAM of ${result.model} for ${result.heatmap_label}`,
      title: `Grad-CAM: where ${result.model} saw "${result.heatmap_label}"` }));
  }
  return card;
}

async function classify() {
  const models = chosenModels();
  const explain = $("#explain").checked;
  runButton.disabled = true;
  $("#results").textContent = "";
  let failures = 0;
  for (const [i, file] of chosenFiles.entries()) {
    setStatus(`classifying ${file.name} (${i + 1}/${chosenFiles.length}) with ${models.join(", ")}...`);
    const form = new FormData();
    form.append("file", file);
    form.append("models", models.join(","));
    form.append("topk", "5");
    form.append("explain", explain ? "true" : "false");
    const row = element("div", { class: "image-row" });
    row.append(element("h2", {}, file.name));
    $("#results").append(row);
    const response = await fetch("/v1/predict", { method: "POST", body: form });
    const answer = await response.json();
    if (!response.ok) {
      failures += 1;
      row.append(element("p", { class: "error" }, `${response.status}: ${answer.detail}`));
      continue;
    }
    const cards = element("div", { class: "cards" });
    answer.results.forEach((result) => cards.append(resultCard(result)));
    row.append(cards);
  }
  setStatus(failures ? `${failures} image(s) failed: see above` : "done", failures > 0);
  updateRunButton();
  drawChart();
}

// The chart: accuracy (y) against latency (x, log scale), one labelled point per model.
async function drawChart() {
  const { points } = await (await fetch("/v1/chart")).json();
  const usable = points.filter((p) => p.acc1 != null && p.latency_ms != null);
  const svg = $("#chart");
  svg.textContent = "";
  const missing = points.length - usable.length;
  $("#chart-note").textContent = usable.length === 0
    ? "No latency measured yet: classify an image, or start the server with --bench results.csv."
    : `Latency: ${[...new Set(usable.map((p) => p.source))].join("; ")}.` +
      (missing ? ` ${missing} model(s) not timed yet.` : "");
  if (usable.length === 0) return;
  const [W, H, left, bottom, top, right] = [640, 360, 50, 40, 15, 20];
  const logs = usable.map((p) => Math.log10(p.latency_ms));
  const accs = usable.map((p) => p.acc1);
  // Each axis spans at least `least` (0.3 decades of latency, 2 points of accuracy),
  // so that models of nearly equal speed or accuracy are not spread edge to edge.
  const span = (values, least) => {
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    const half = Math.max((hi - lo) * 0.6, least / 2), mid = (lo + hi) / 2;
    return [mid - half, mid + half];
  };
  const [x0, x1] = span(logs, 0.3);
  const [y0, y1] = span(accs, 2);
  const sx = (v) => left + (v - x0) / (x1 - x0) * (W - left - right);
  const sy = (v) => H - bottom - (v - y0) / (y1 - y0) * (H - bottom - top);
  const ns = "http://www.w3.org/2000/svg";
  const draw = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  draw("line", { class: "axis", x1: left, y1: H - bottom, x2: W - right, y2: H - bottom });
  draw("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom });
  draw("text", { x: W / 2, y: H - 8, "text-anchor": "middle" }, "latency, ms (log scale)");
  draw("text", { x: 12, y: H / 2, transform: `rotate(-90 12 ${H / 2})`, "text-anchor": "middle" }, "ImageNet top-1, %");
  for (const t of [x0, (x0 + x1) / 2, x1]) {
    draw("text", { x: sx(t), y: H - bottom + 14, "text-anchor": "middle" }, (10 ** t).toPrecision(2));
  }
  for (const t of [y0, (y0 + y1) / 2, y1]) draw("text", { x: left - 4, y: sy(t) + 4, "text-anchor": "end" }, t.toFixed(1));
  for (const p of usable) {
    const [cx, cy] = [sx(Math.log10(p.latency_ms)), sy(p.acc1)];
    draw("circle", { class: p.served ? "point" : "point other", cx, cy, r: 5, fill: p.served ? "#36c" : "#aaa",
                     "data-model": p.name })
      .append(Object.assign(document.createElementNS(ns, "title"),
        { textContent: `${p.name}: ${p.acc1.toFixed(1)}%, ${p.latency_ms.toFixed(1)} ms (${p.source})` }));
    const nearRight = cx > W - 160;  // labels near the right edge go to the point's left
    draw("text", { x: nearRight ? cx - 7 : cx + 7, y: cy - 6, "text-anchor": nearRight ? "end" : "start" }, p.name);
  }
}

fileInput.addEventListener("change", () => chooseFiles(fileInput.files));
const drop = $("#drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  chooseFiles(event.dataTransfer.files);
});
$("#models").addEventListener("change", updateRunButton);
runButton.addEventListener("click", () => classify().catch((error) => setStatus(String(error), true)));
loadModels().then(drawChart).catch((error) => setStatus(`cannot reach the server: ${error}`, true));
