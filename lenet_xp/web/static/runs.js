// The Runs page: every served run's error per epoch (log scale, uPlot), overlaid, its
// training loss on one chart per kind of loss (a cross-entropy and the MAP criterion are not
// on one scale), one legend (colour per run; dashed training, solid validation), the figures
// as a table, and each run's state and recipe. GET /api/runs/NAME every two seconds, so a
// run still training adds its epochs as they finish.
"use strict";

const POLL_MS = 2000;
const HEIGHT = 280;
const DASH = [6, 4];  // training curves
const runs = new Map();  // name -> its latest answer
const openRecipes = new Set();  // the runs whose whole recipe the reader opened
let shown = "";  // the answers the page shows, as JSON: redrawn only when they change
let names = [];
let charts = [];  // {chart, element, kind} of the charts drawn

const positive = value => value > 0 ? value : null;  // a log scale has no place for 0
const errorPercent = accuracy => accuracy === null || accuracy === undefined
  ? null : positive(100 * (1 - accuracy));

function colour(index) {
  return lenet.COLOURS[index % lenet.COLOURS.length];
}

function line(label, index, dash) {
  return {label, stroke: colour(index), width: 2, dash, spanGaps: true,
          points: {show: true, size: 5}, value: (u, v) => v === null ? "–" : lenet.number(v)};
}

function makeChart(element, label, series, data) {
  const options = {
    width: element.clientWidth, height: HEIGHT,
    scales: {x: {time: false}, y: {distr: 3, log: 10}},
    axes: [{label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100]}, {label, size: 60}],
    series: [{label: "epoch"}, ...series],
    legend: {show: false},
  };
  return new uPlot(options, data, element);
}

// uPlot's columns: epochs 1..E shared by every series, null where a run has no such epoch.
function epochs() {
  const longest = Math.max(1, ...names.map(name => (runs.get(name)?.epochs || []).length));
  return Array.from({length: longest}, (_, i) => i + 1);
}

function column(name, value) {
  return epochs().map((_, i) => {
    const record = (runs.get(name)?.epochs || [])[i];
    return record ? value(record) : null;
  });
}

// The loss kinds of the runs, in order of first appearance: one loss chart each.
function lossKinds() {
  const kinds = [];
  for (const name of names) {
    const kind = runs.get(name)?.loss || "loss";
    if (!kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

function drawCharts() {
  const kinds = lossKinds();
  const layout = JSON.stringify(kinds);
  if (charts.length && charts.layout === layout) {
    for (const {chart, kind} of charts) chart.setData(kind ? lossData(kind) : errorData());
    return;
  }
  for (const {chart} of charts) chart.destroy();
  const errorElement = document.getElementById("error-chart");
  charts = [{chart: makeChart(errorElement, "error, %", names.flatMap((name, i) =>
    [line(`${name} training`, i, DASH), line(`${name} validation`, i)]), errorData()),
    element: errorElement, kind: null}];
  const holder = document.getElementById("loss-charts");
  holder.replaceChildren(...kinds.map(kind => {
    const panel = lenet.element("div", "panel");
    const title = lenet.element("h2", null, `Training loss: ${kind} `);
    const runsOfKind = names.filter(name => (runs.get(name)?.loss || "loss") === kind);
    title.append(lenet.element("span", "muted", `(log scale; ${runsOfKind.join(", ")})`));
    const element = lenet.element("div", "chart");
    panel.append(title, element);
    return panel;
  }));
  kinds.forEach((kind, k) => {
    const element = holder.children[k].querySelector(".chart");
    const series = names.map((name, i) => ({...line(name, i, DASH),
                                             show: (runs.get(name)?.loss || "loss") === kind}));
    charts.push({chart: makeChart(element, kind, series, lossData(kind)), element, kind});
  });
  charts.layout = layout;
}

function errorData() {
  return [epochs(), ...names.flatMap(name => [column(name, r => errorPercent(r.train_accuracy)),
                                              column(name, r => errorPercent(r.val_accuracy))])];
}

function lossData(kind) {
  return [epochs(), ...names.map(name => (runs.get(name)?.loss || "loss") === kind
    ? column(name, r => positive(r.train_loss)) : epochs().map(() => null))];
}

window.addEventListener("resize", () => {
  for (const {chart, element} of charts) chart.setSize({width: element.clientWidth, height: HEIGHT});
});

// A line sample for the legend: the run's colour, dashed or solid.
function sample(stroke, dashed) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "10");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "line");
  for (const [key, value] of Object.entries({x1: 0, y1: 5, x2: 28, y2: 5, stroke, "stroke-width": 2.5})) {
    path.setAttribute(key, value);
  }
  if (dashed) path.setAttribute("stroke-dasharray", DASH.join(" "));
  svg.append(path);
  return svg;
}

function legend() {
  const items = names.map((name, i) => {
    const item = lenet.element("li");
    item.append(sample(colour(i), false), lenet.element("span", null, name));
    return item;
  });
  const training = lenet.element("li");
  training.append(sample("#4b5563", true), lenet.element("span", "muted", "training"));
  const validation = lenet.element("li");
  validation.append(sample("#4b5563", false), lenet.element("span", "muted", "validation"));
  document.getElementById("legend").replaceChildren(...items, training, validation);
}

// The charts' numbers, epoch by epoch: each run's loss and its training and validation error.
function figures() {
  const table = lenet.element("table", "figures-table");
  table.append(lenet.element("caption", "note", "Each run's training loss and error, % per epoch"));
  const head = lenet.element("tr");
  const epochHead = lenet.element("th", null, "epoch");
  epochHead.scope = "col";
  head.append(epochHead);
  for (const name of names) {
    for (const what of ["loss", "training error", "validation error"]) {
      const th = lenet.element("th", null, `${name} ${what}`);
      th.scope = "col";
      head.append(th);
    }
  }
  const rows = epochs().map((epoch, i) => {
    const row = lenet.element("tr");
    const th = lenet.element("th", null, String(epoch));
    th.scope = "row";
    row.append(th);
    for (const name of names) {
      const record = (runs.get(name)?.epochs || [])[i];
      const values = record ? [lenet.number(record.train_loss),
        lenet.number(100 * (1 - record.train_accuracy)),
        record.val_accuracy === null ? "n/a" : lenet.number(100 * (1 - record.val_accuracy))]
        : ["", "", ""];
      for (const value of values) row.append(lenet.element("td", null, value));
    }
    return row;
  });
  table.append(head, ...rows);
  document.getElementById("figures").replaceChildren(table);
}

// The settings that tell runs apart, in one line: "lenet5: adam, lr 0.002, batch 64, ...".
function recipeLine(run) {
  const r = run.recipe;
  const parts = [r.optimizer, r.lr !== undefined && `lr ${r.lr}`,
                 r.batch_size !== undefined && `batch ${r.batch_size}`,
                 r.epochs !== undefined && `${r.epochs} epochs`,
                 r.schedule && `${r.schedule} schedule`,
                 r.shift ? `±${r.shift}-pixel shifts` : null,
                 r.distort && r.distort !== "none" && `${r.distort} distortions`];
  return `${run.network}: ${parts.filter(Boolean).join(", ")}`;
}

function renderCard(name, index) {
  const run = runs.get(name);
  const card = lenet.element("article", "panel run-card");
  card.style.borderLeftColor = colour(index);
  card.append(lenet.element("h2", null, name));
  const total = run.recipe ? run.recipe.epochs : undefined;
  const state = lenet.element("p", "run-state");
  state.dataset.testid = `state-${name}`;
  const count = lenet.element("span", "epoch-count", String(run.epochs.length));
  count.dataset.testid = `epochs-${name}`;
  if (run.test) {
    state.append("finished: ", count, ` epochs, test error ${lenet.percent(1 - run.test.test_accuracy, 2)}`);
  } else if (!run.epochs.length && !run.recipe) {
    state.append("waiting for the run to start (", count, " epochs)");
  } else {
    state.append("training: ", count, total ? ` of ${total} epochs so far` : " epochs so far");
  }
  card.append(state);
  const last = run.epochs[run.epochs.length - 1];
  if (last) {
    const val = last.val_accuracy === null ? "n/a" : lenet.percent(1 - last.val_accuracy, 2);
    card.append(lenet.element("p", "muted",
      `last epoch: ${run.loss || "loss"} ${lenet.number(last.train_loss)}, training error ` +
      `${lenet.percent(1 - last.train_accuracy, 2)}, validation error ${val}, ` +
      `${last.seconds.toFixed(1)} s`));
  }
  if (run.recipe) {
    card.append(lenet.element("p", "recipe-line", recipeLine(run)));
    const table = lenet.element("dl", "recipe");
    for (const [key, value] of Object.entries(run.recipe)) {
      table.append(lenet.element("dt", null, key),
                   lenet.element("dd", null, typeof value === "object" ? JSON.stringify(value) : String(value)));
    }
    const details = lenet.element("details", "recipe-all");
    details.open = openRecipes.has(name);
    details.addEventListener("toggle", () => {
      if (details.open) openRecipes.add(name);
      else openRecipes.delete(name);
    });
    details.append(lenet.element("summary", null,
                                 `the whole recipe (${Object.keys(run.recipe).length} settings)`), table);
    card.append(details);
  } else {
    card.append(lenet.element("p", "note", "The recipe shows once the run writes its first checkpoint."));
  }
  for (const problem of run.problems) card.append(lenet.element("p", "problem", problem));
  return card;
}

async function refresh() {
  const answers = await Promise.all(names.map(name => lenet.getJSON(`/api/runs/${encodeURIComponent(name)}`)));
  const latest = JSON.stringify(answers);
  if (latest === shown) return;
  shown = latest;
  answers.forEach((answer, i) => runs.set(names[i], answer));
  drawCharts();
  legend();
  figures();
  document.getElementById("run-cards").replaceChildren(...names.map(renderCard));
}

async function start() {
  names = (await lenet.getJSON("/api/models")).runs;
  if (!names.length) {
    document.querySelector(".charts").hidden = true;
    document.getElementById("run-cards").replaceChildren(lenet.element("p", "notice",
      "No runs served: give run folders (not only model files) to scripts/serve.py to follow them here."));
    return;
  }
  await refresh();
  setInterval(() => refresh().catch(() => {}), POLL_MS);
}

start().catch(error => {
  document.getElementById("run-cards").replaceChildren(lenet.element("p", "problem", error.message));
});
