// The Evaluate page: a model's test accuracy, its accuracy per digit and its confusion
// matrix (GET /api/evaluation/NAME, computed by the server once per model); a click on a
// cell shows that cell's test digits with their scores (GET .../cell?true=T&predicted=P).
"use strict";

const statusLine = document.getElementById("eval-status");
let current = null;  // the model shown

function tabs(models) {
  const bar = document.getElementById("tabs");
  bar.replaceChildren(...models.map((model, index) => {
    const tab = lenet.element("button", "tab", model.name);
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.style.borderBottomColor = lenet.COLOURS[index % lenet.COLOURS.length];
    tab.addEventListener("click", () => show(model.name));
    return tab;
  }));
}

async function show(name) {
  current = name;
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("current", tab.textContent === name);
  }
  statusLine.textContent = `${name}: classifying the test set (once per model)…`;
  document.getElementById("eval-body").hidden = true;
  try {
    const result = await lenet.getJSON(`/api/evaluation/${encodeURIComponent(name)}`);
    if (current !== name) return;
    statusLine.textContent = `${name} (${result.network}, ${result.epoch} epochs): test accuracy ` +
      `${lenet.percent(result.test_accuracy, 2)}, ${result.errors.toLocaleString("en")} errors ` +
      `of ${result.count.toLocaleString("en")} test digits`;
    confusion(name, result.confusion);
    perClass(result.per_class_accuracy);
    document.getElementById("cell-title").textContent =
      "Click a cell of the matrix to see its test digits";
    document.getElementById("cell-digits").replaceChildren();
    document.getElementById("eval-body").hidden = false;
  } catch (error) {
    if (current === name) statusLine.textContent = error.message;
  }
}

// Counts in every cell; colour by the count's logarithm: green on the diagonal, red off it.
function confusion(name, matrix) {
  const table = document.getElementById("confusion");
  const most = Math.max(...matrix.flat());
  const head = lenet.element("tr");
  head.append(lenet.element("th", "corner", "true \\ predicted"),
              ...matrix.map((_, p) => lenet.element("th", null, String(p))));
  const rows = matrix.map((row, t) => {
    const line = lenet.element("tr");
    line.append(lenet.element("th", null, String(t)));
    row.forEach((count, p) => {
      const cell = lenet.element("td", t === p ? "cell diagonal" : "cell", String(count));
      cell.dataset.testid = `cell-${t}-${p}`;
      if (count > 0) {
        const strength = Math.log1p(count) / Math.log1p(most);
        const hue = t === p ? 140 : 5;
        cell.style.backgroundColor = `hsl(${hue} 65% ${Math.round(96 - 46 * strength)}%)`;
        if (strength > 0.6) cell.classList.add("dark");
        cell.classList.add("clickable");
        cell.tabIndex = 0;
        cell.title = `${count} test digit${count === 1 ? "" : "s"} ${t} classified as ${p}: click to see them`;
        cell.addEventListener("click", () => showCell(name, t, p, cell));
        cell.addEventListener("keydown", event => {
          if (event.key === "Enter") showCell(name, t, p, cell);
        });
      } else {
        cell.classList.add("zero");
      }
      line.append(cell);
    });
    return line;
  });
  table.replaceChildren(head, ...rows);
}

function perClass(accuracies) {
  const box = document.getElementById("per-class");
  box.replaceChildren(...accuracies.map((accuracy, digit) => {
    const row = lenet.element("div", "bar-row");
    const track = lenet.element("span", "bar");
    const fill = lenet.element("span", "fill");
    fill.style.width = accuracy === null ? "0" : `${(100 * accuracy).toFixed(2)}%`;
    track.append(fill);
    row.append(lenet.element("span", "cls", String(digit)), track,
               lenet.element("span", "val", accuracy === null ? "n/a" : lenet.percent(accuracy, 2)));
    return row;
  }));
}

async function showCell(name, t, p, cell) {
  for (const other of document.querySelectorAll(".cell.selected")) other.classList.remove("selected");
  cell.classList.add("selected");
  const title = document.getElementById("cell-title");
  title.textContent = `True ${t}, predicted ${p}: loading…`;
  const answer = await lenet.getJSON(
    `/api/evaluation/${encodeURIComponent(name)}/cell?true=${t}&predicted=${p}`);
  const shown = answer.digits.length;
  title.textContent = `True ${t}, predicted ${p}: ${answer.count} test digit${answer.count === 1 ? "" : "s"}` +
    (shown < answer.count ? ` (the first ${shown} shown)` : "");
  document.getElementById("cell-digits").replaceChildren(...answer.digits.map(digit => {
    const figure = lenet.element("figure", "digit");
    figure.dataset.testid = "cell-digit";
    figure.append(lenet.paint(lenet.element("canvas", "digit-image"), digit.image));
    const caption = lenet.element("figcaption");
    caption.append(lenet.element("span", "muted", `#${digit.index}`));
    for (const [c, score] of digit.top) {
      caption.append(lenet.element("span", c === p ? "score best" : "score", `${c}: ${lenet.percent(score, 0)}`));
    }
    figure.append(caption);
    return figure;
  }));
}

async function start() {
  const answer = await lenet.getJSON("/api/models");
  if (!answer.evaluation) {
    statusLine.classList.add("notice");
    statusLine.textContent = "The Evaluate page needs the test set: start the server with " +
      "--data-dir FOLDER, the folder of the MNIST files (python scripts/serve.py RUN " +
      "--data-dir ../shared/data/mnist).";
    return;
  }
  const ready = answer.models.filter(model => !model.error);
  tabs(ready);
  if (ready.length) show(ready[0].name);
  else statusLine.textContent = "No model has weights yet.";
}

start().catch(error => { statusLine.textContent = error.message; });
