// The Runs page: every served run's training loss and error per epoch (log scale, uPlot),
// overlaid, with each run's state and recipe; GET /api/runs/NAME every two seconds, so a
// run still training adds its epochs as they finish.
"use strict";

const POLL_MS = 2000;
const HEIGHT = 300;
const runs = new Map();  // name -> its latest answer
const openRecipes = new Set();  // the runs whose whole recipe the reader opened
let shown = "";  // the answers the page shows, as JSON: redrawn only when they change
let names = [], lossChart = null, errorChart = null;

const positive = value => value > 0 ? value : null;  // a log scale has no place for 0
const errorPercent = accuracy => accuracy === null || accuracy === undefined
  ? null : positive(100 * (1 - accuracy));

function colour(index) {
  return lenet.COLOURS[index % lenet.COLOURS.length];
}

function chartOptions(element, label, series) {
  return {
    width: element.clientWidth, height: HEIGHT,
    scales: {x: {time: false}, y: {distr: 3, log: 10}},
    axes: [{label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100]}, {label, size: 60}],
    series: [{label: "epoch"}, ...series],
    legend: {live: true},
  };
}

function makeCharts() {
  const lossElement = document.getElementById("loss-chart");
  const errorElement = document.getElementById("error-chart");
  const line = (label, index, dash) => ({
    label, stroke: colour(index), width: 2, dash, spanGaps: true,
    points: {show: true, size: 5}, value: (u, v) => v === null ? "–" : lenet.number(v),
  });
  lossChart = new uPlot(chartOptions(lossElement, "training loss",
    names.map((name, i) => line(name, i))), chartData("loss"), lossElement);
  errorChart = new uPlot(chartOptions(errorElement, "error, %",
    names.flatMap((name, i) => [line(`${name} training`, i, [6, 4]),
                                line(`${name} validation`, i)])),
    chartData("error"), errorElement);
  window.addEventListener("resize", () => {
    lossChart.setSize({width: lossElement.clientWidth, height: HEIGHT});
    errorChart.setSize({width: errorElement.clientWidth, height: HEIGHT});
  });
}

// uPlot's columns: epochs 1..E shared by every series, null where a run has no such epoch.
function chartData(which) {
  const longest = Math.max(1, ...names.map(name => (runs.get(name)?.epochs || []).length));
  const epochs = Array.from({length: longest}, (_, i) => i + 1);
  const column = (name, value) => epochs.map((_, i) => {
    const record = (runs.get(name)?.epochs || [])[i];
    return record ? value(record) : null;
  });
  if (which === "loss") return [epochs, ...names.map(name => column(name, r => positive(r.train_loss)))];
  return [epochs, ...names.flatMap(name => [column(name, r => errorPercent(r.train_accuracy)),
                                            column(name, r => errorPercent(r.val_accuracy))])];
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
  const count = lenet.element("span", "epoch-count", String(run.epochs.length));
  count.dataset.testid = `epochs-${name}`;
  if (run.test) {
    state.append("finished: ", count, ` epochs, test error ${lenet.percent(1 - run.test.test_accuracy, 2)}`);
  } else {
    state.append("training: ", count, total ? ` of ${total} epochs so far` : " epochs so far");
  }
  card.append(state);
  const last = run.epochs[run.epochs.length - 1];
  if (last) {
    const val = last.val_accuracy === null ? "n/a" : lenet.percent(1 - last.val_accuracy, 2);
    card.append(lenet.element("p", "muted",
      `last epoch: loss ${lenet.number(last.train_loss)}, training error ` +
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
  if (!lossChart) makeCharts();
  lossChart.setData(chartData("loss"));
  errorChart.setData(chartData("error"));
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
