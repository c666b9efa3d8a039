// The Evaluate page: a model's test accuracy, its accuracy per digit and its confusion
// matrix (GET /api/evaluation/NAME, computed by the server once per model); a click, a tap,
// Enter or Space on a cell shows that cell's test digits with their scores
// (GET .../cell?true=T&predicted=P), each a link to the Draw page with every layer on it.
"use strict";

const statusLine = document.getElementById("eval-status");
let current = null;  // the model shown

function tabs(models) {
  const bar = document.getElementById("tabs");
  bar.replaceChildren(...models.map((model, index) => {
    const tab = lenet.element("button", "tab", model.name);
    tab.type = "button";
    tab.id = `tab-${index}`;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-selected", "false");
    tab.setAttribute("aria-controls", "eval-body");
    tab.style.borderBottomColor = lenet.COLOURS[index % lenet.COLOURS.length];
    tab.addEventListener("click", () => show(model.name));
    tab.addEventListener("keydown", event => {  // arrows move between the tabs
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const all = [...bar.querySelectorAll('[role="tab"]')];
      const next = all[(all.indexOf(tab) + step + all.length) % all.length];
      next.focus();
      next.click();
    });
    return tab;
  }));
}

async function show(name) {
  current = name;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.textContent === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected) document.getElementById("eval-body").setAttribute("aria-labelledby", tab.id);
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
    perClass(result.per_class_accuracy, result.confusion);
    document.getElementById("cell-title").textContent =
      "Choose a cell of the matrix to see its test digits";
    document.getElementById("cell-help").hidden = true;
    document.getElementById("cell-digits").replaceChildren();
    document.getElementById("eval-body").hidden = false;
  } catch (error) {
    if (current === name) statusLine.textContent = error.message;
  }
}

// A cell's background by its count's logarithm: green shades on the diagonal, red off it,
// with black or white text, whichever reads better on it (WCAG AA contrast).
function cellColour(count, most, diagonal) {
  const strength = Math.log1p(count) / Math.log1p(most);
  const [from, to] = diagonal ? [[236, 253, 243], [21, 128, 61]] : [[254, 242, 242], [185, 28, 28]];
  return from.map((f, c) => Math.round(f + strength * (to[c] - f)));
}

function confusion(name, matrix) {
  const table = document.getElementById("confusion");
  const most = Math.max(...matrix.flat());
  const caption = lenet.element("caption", null, "Each cell counts the test digits of one true " +
    "digit (row) read as one digit (column); choose a cell to see them.");
  const head = lenet.element("tr");
  const corner = lenet.element("th", "corner", "true \\ read");
  corner.scope = "col";
  head.append(corner, ...matrix.map((_, p) => {
    const th = lenet.element("th", null, String(p));
    th.scope = "col";
    return th;
  }));
  const rows = matrix.map((row, t) => {
    const line = lenet.element("tr");
    const th = lenet.element("th", null, String(t));
    th.scope = "row";
    line.append(th);
    row.forEach((count, p) => {
      const cell = lenet.element("td", t === p ? "cell diagonal" : "cell", String(count));
      cell.dataset.testid = `cell-${t}-${p}`;
      if (count > 0) {
        const colour = cellColour(count, most, t === p);
        cell.style.backgroundColor = `rgb(${colour.join(" ")})`;
        cell.style.color = lenet.textOn(colour);
        cell.classList.add("clickable");
        cell.tabIndex = 0;
        cell.setAttribute("role", "button");
        cell.setAttribute("aria-label", `${count} test digit${count === 1 ? "" : "s"} ${t} read as ${p}`);
        cell.title = `${count} test digit${count === 1 ? "" : "s"} ${t} read as ${p}: choose to see them`;
        cell.addEventListener("click", () => showCell(name, t, p, cell));
        cell.addEventListener("keydown", event => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            showCell(name, t, p, cell);
          }
        });
      } else {
        cell.classList.add("zero");
      }
      line.append(cell);
    });
    return line;
  });
  table.replaceChildren(caption, head, ...rows);
}

// The accuracy of each digit on an axis from `low` to 100 %, `low` a multiple of 5 % below
// the worst digit, so that 97 % and 99 % look different; the numbers beside each bar.
function perClass(accuracies, matrix) {
  const known = accuracies.filter(a => a !== null);
  const low = Math.max(0, Math.min(0.95, Math.floor((Math.min(...known) - 0.005) * 20) / 20));
  const table = document.getElementById("per-class");
  const caption = lenet.element("caption", "note",
    `Bars from ${lenet.percent(low, 0)} (left edge) to 100 % (right edge)`);
  const head = lenet.element("tr");
  const axis = lenet.element("th", "axis-head");
  const ticks = lenet.element("span", "axis");
  ticks.append(lenet.element("span", null, lenet.percent(low, 0)),
               lenet.element("span", null, lenet.percent((1 + low) / 2, 1)),
               lenet.element("span", null, "100 %"));
  axis.append(ticks);
  for (const [text, node] of [["digit"], ["accuracy"], ["errors"], [null, axis]]) {
    const th = node || lenet.element("th", null, text);
    th.scope = "col";
    head.append(th);
  }
  const rows = accuracies.map((accuracy, digit) => {
    const row = lenet.element("tr");
    const total = matrix[digit].reduce((a, b) => a + b, 0);
    const errors = total - matrix[digit][digit];
    const th = lenet.element("th", null, String(digit));
    th.scope = "row";
    const track = lenet.element("span", "bar");
    const fill = lenet.element("span", "fill");
    fill.style.width = accuracy === null ? "0" : `${(100 * Math.max(0, accuracy - low) / (1 - low)).toFixed(1)}%`;
    track.append(fill);
    const cell = lenet.element("td", "track");
    cell.append(track);
    row.append(th, lenet.element("td", null, accuracy === null ? "n/a" : lenet.percent(accuracy, 2)),
               lenet.element("td", null, String(errors)), cell);
    return row;
  });
  table.replaceChildren(caption, head, ...rows);
}

async function showCell(name, t, p, cell) {
  for (const other of document.querySelectorAll(".cell.selected")) other.classList.remove("selected");
  cell.classList.add("selected");
  const title = document.getElementById("cell-title");
  title.textContent = `True ${t}, read as ${p}: loading…`;
  const answer = await lenet.getJSON(
    `/api/evaluation/${encodeURIComponent(name)}/cell?true=${t}&predicted=${p}`);
  const shown = answer.digits.length;
  title.textContent = `True ${t}, read as ${p}: ${answer.count} test digit${answer.count === 1 ? "" : "s"}` +
    (shown < answer.count ? ` (the first ${shown} shown)` : "");
  document.getElementById("cell-help").hidden = false;
  document.getElementById("cell-digits").replaceChildren(...answer.digits.map(digit => {
    const figure = lenet.element("figure", "digit");
    figure.dataset.testid = "cell-digit";
    const link = lenet.element("a");
    link.href = `/?test=${digit.index}&model=${encodeURIComponent(name)}`;
    link.setAttribute("aria-label", `test digit ${digit.index}, a ${t} read as ${digit.top[0][0]}: ` +
                      "open it in the Draw page");
    link.append(lenet.paint(lenet.element("canvas", "digit-image"), digit.image));
    figure.append(link);
    const caption = lenet.element("figcaption");
    caption.append(lenet.element("span", "muted", `#${digit.index}`));
    for (const [c, score] of digit.top) {
      caption.append(lenet.element("span", c === p ? "score best" : "score", `${c}: ${lenet.percent(score, 0)}`));
    }
    figure.append(caption);
    return figure;
  }));
  const box = title.getBoundingClientRect();  // on a phone the digits are below the matrix
  if (box.top < 0 || box.bottom > window.innerHeight) title.scrollIntoView({block: "start"});
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
