// The Draw page: a pad drawn on with mouse, pen or finger (Pointer Events), an upload and
// drop zone; each drawing goes to POST /api/predict (a few times a second at most) and the
// answer shows the digit the networks saw, every model's scores and every layer of one.
"use strict";

const MAX_UPLOAD = 1 << 20;   // the server refuses larger bodies
const THROTTLE_MS = 250;      // at most four requests a second while drawing
const INK_WIDTH = 20;         // pen width on the 280-pixel pad (MNIST strokes: 2-3 of 28)

const pad = document.getElementById("pad");
const ink = pad.getContext("2d", {alpha: false});  // opaque: white paper, black ink
const status = document.getElementById("status");
const select = document.getElementById("layers-model");
let models = [];
let lastImage = null;         // the last image sent (Blob), sent again when the model changes
let timer = null, inFlight = false, pending = false;
let cleared = 0;              // how often the pad was cleared: older answers are not shown

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
}

// ---- drawing: one stroke per pointer, so two fingers draw two strokes ------------------
const strokes = new Map();  // pointerId -> last point

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function dot([x, y]) {  // a zero-length line draws nothing in some browsers
  ink.fillStyle = "#000";
  ink.beginPath();
  ink.arc(x, y, INK_WIDTH / 2, 0, 2 * Math.PI);
  ink.fill();
}

function line(from, to) {
  ink.strokeStyle = "#000";
  ink.lineWidth = INK_WIDTH;
  ink.lineCap = ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...from);
  ink.lineTo(...to);
  ink.stroke();
}

pad.addEventListener("pointerdown", event => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  const start = point(event);
  strokes.set(event.pointerId, start);
  dot(start);
  schedule();
});
pad.addEventListener("pointermove", event => {
  if (!strokes.has(event.pointerId)) return;
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const move of moves.length ? moves : [event]) {
    const next = point(move);
    line(strokes.get(event.pointerId), next);
    strokes.set(event.pointerId, next);
  }
  schedule();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, event => {
    if (strokes.delete(event.pointerId)) sendPad();
  });
}

document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  cleared += 1;
  clearTimeout(timer);
  timer = null;
  lastImage = null;
  pending = false;
  if (!inFlight) busy(false);
  status.textContent = "";
  showEmpty();
});

// ---- requests: throttled, one in flight, the newest drawing wins --------------------
// The pad's data-state is "busy" while an answer is awaited, "idle" once the page shows the
// answer to the newest drawing (a hook for tests and scripts).
function busy(yes) {
  pad.dataset.state = yes ? "busy" : "idle";
}

function schedule() {
  busy(true);
  if (timer === null) timer = setTimeout(sendPad, THROTTLE_MS);
}

function sendPad() {
  busy(true);
  clearTimeout(timer);
  timer = null;
  pad.toBlob(blob => send(blob), "image/png");
}

async function send(image) {
  busy(true);
  lastImage = image;
  if (inFlight) {
    pending = true;
    return;
  }
  inFlight = true;
  const sentAfter = cleared;
  try {
    const query = `top=10&layers=${encodeURIComponent(select.value)}`;
    const answer = await lenet.getJSON(`/api/predict?${query}`, {method: "POST", body: image});
    if (!pending && sentAfter === cleared) {
      show(answer);
      status.textContent = "";
    }
  } catch (error) {
    if (sentAfter === cleared) status.textContent = error.message;
  } finally {
    inFlight = false;
    if (pending) {
      pending = false;
      send(lastImage);
    } else if (timer === null) {
      busy(false);
    }
  }
}

// ---- upload and drop: the file itself is sent, and shown on the pad ------------------
async function upload(file) {
  if (!file) return;
  if (file.size > MAX_UPLOAD) {
    busy(false);
    status.textContent = `${file.name} is ${(file.size / 1048576).toFixed(1)} MiB: the server ` +
      "takes images up to 1 MiB, make it smaller first";
    return;
  }
  status.textContent = `${file.name}…`;
  try {  // show it on the pad, fitted; formats the browser cannot draw are still sent
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    clearPad();
    ink.drawImage(bitmap, (pad.width - bitmap.width * scale) / 2,
                  (pad.height - bitmap.height * scale) / 2,
                  bitmap.width * scale, bitmap.height * scale);
  } catch (error) {
    clearPad();
  }
  await send(file);
}

const uploadInput = document.getElementById("upload");
uploadInput.addEventListener("change", () => upload(uploadInput.files[0]));
const drop = document.getElementById("drop");
drop.addEventListener("dragover", event => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", event => {
  event.preventDefault();
  drop.classList.remove("over");
  upload(event.dataTransfer.files[0]);
});

// ---- the answer -----------------------------------------------------------------------
function showEmpty() {
  lenet.paint(document.getElementById("seen"),
              {width: 28, height: 28, pixels: btoa("\0".repeat(784))});
  renderCards(null);
  document.getElementById("stages").replaceChildren();
  document.getElementById("layers-note").hidden = false;
}

function show(answer) {
  lenet.paint(document.getElementById("seen"), answer.digit);
  renderCards(answer.predictions);
  renderStages(answer.layers.stages);
}

function renderCards(predictions) {
  const cards = models.map((model, index) => {
    const card = lenet.element("div", "model-card");
    card.style.borderTopColor = lenet.COLOURS[index % lenet.COLOURS.length];
    const head = lenet.element("div", "card-head");
    head.append(lenet.element("span", "model-name", model.name),
                lenet.element("span", "muted", model.error ? "no weights yet"
                  : `${model.network} · ${model.parameters.toLocaleString("en")} parameters`));
    card.append(head);
    const result = predictions && predictions[index];
    const top = lenet.element("div", "top");
    const digit = lenet.element("span", "top-digit", result && result.top ? String(result.top[0][0]) : "–");
    if (index === 0) digit.dataset.testid = "top-digit";
    digit.dataset.model = model.name;
    top.append(digit, lenet.element("span", "top-score", result && result.top
      ? lenet.percent(result.top[0][1]) : ""));
    card.append(top);
    if (result && result.error) card.append(lenet.element("p", "note", result.error));
    card.append(bars(result && result.top));
    if (!model.error) card.append(lenet.element("p", "note", model.score_name));
    return card;
  });
  document.getElementById("models").replaceChildren(...cards);
}

// Ten bars, digit 0 to 9, the best one marked.
function bars(top) {
  const scores = new Array(10).fill(0);
  if (top) for (const [digit, score] of top) scores[digit] = score;
  const best = top ? top[0][0] : -1;
  const box = lenet.element("div", "bars");
  scores.forEach((score, digit) => {
    const row = lenet.element("div", digit === best ? "bar-row best" : "bar-row");
    const track = lenet.element("span", "bar");
    const fill = lenet.element("span", "fill");
    fill.style.width = `${(100 * score).toFixed(1)}%`;
    track.append(fill);
    row.append(lenet.element("span", "cls", String(digit)), track,
               lenet.element("span", "val", top ? lenet.percent(score) : ""));
    box.append(row);
  });
  return box;
}

function renderStages(stages) {
  document.getElementById("layers-note").hidden = stages.length > 0;
  const views = stages.map(stage => {
    const box = lenet.element("div", `stage stage-${stage.kind}`);
    const head = lenet.element("div", "stage-head");
    head.append(lenet.element("b", null, stage.name),
                lenet.element("span", "muted", ` ${stage.layer} · ${describe(stage)}`));
    box.append(head);
    if (stage.kind === "maps") box.append(mapGrid(stage));
    else if (stage.kind === "vector") box.append(strip(stage));
    else box.append(outputBars(stage));
    return box;
  });
  document.getElementById("stages").replaceChildren(...views);
}

function describe(stage) {
  const [count, height, width] = stage.shape;
  if (stage.kind === "maps") {
    return `${count} map${count === 1 ? "" : "s"} of ${height}×${width}, ` +
      `${lenet.number(stage.low)} to ${lenet.number(stage.high)}`;
  }
  if (stage.kind === "vector") {
    const values = stage.values;
    return `${values.length} units, ${lenet.number(Math.min(...values))} to ` +
      `${lenet.number(Math.max(...values))}`;
  }
  return `output: ${stage.what}`;
}

function mapGrid(stage) {
  const grid = lenet.element("div", "maps");
  const size = Math.max(36, Math.min(72, 4 * stage.shape[1]));
  stage.maps.forEach((map, index) => {
    const canvas = lenet.paint(lenet.element("canvas", "map"), map, "viridis");
    canvas.style.width = canvas.style.height = `${size}px`;
    canvas.title = `${stage.name} map ${index + 1}: click to enlarge`;
    canvas.addEventListener("click", () => zoom.open(stage, index));
    grid.append(canvas);
  });
  return grid;
}

function strip(stage) {
  const values = stage.values;
  const canvas = lenet.paintStrip(lenet.element("canvas", "strip"), values,
                                  Math.min(...values), Math.max(...values));
  canvas.style.width = `${Math.min(100, Math.max(20, values.length / 5))}%`;
  canvas.title = `${stage.name}: ${values.length} units, one cell each (dark low, yellow high)`;
  return canvas;
}

function outputBars(stage) {
  const values = stage.values;
  const rbf = stage.what.startsWith("RBF");
  const best = values.indexOf(rbf ? Math.min(...values) : Math.max(...values));
  const high = Math.max(...values.map(Math.abs)) || 1;
  const box = lenet.element("div", "bars output-bars");
  values.forEach((value, digit) => {
    const row = lenet.element("div", digit === best ? "bar-row best" : "bar-row");
    const track = lenet.element("span", "bar");
    const fill = lenet.element("span", "fill");
    fill.style.width = `${(100 * Math.abs(value) / high).toFixed(1)}%`;
    track.append(fill);
    row.append(lenet.element("span", "cls", String(digit)), track,
               lenet.element("span", "val", rbf ? lenet.number(value) : lenet.percent(value)));
    box.append(row);
  });
  return box;
}

// ---- one map enlarged, with its neighbours a click or an arrow key away -------------
const zoom = (() => {
  const dialog = document.getElementById("zoom");
  const canvas = document.getElementById("zoom-canvas");
  const caption = document.getElementById("zoom-caption");
  let stage = null, index = 0;

  function draw() {
    lenet.paint(canvas, stage.maps[index], "viridis");
    const [count, height, width] = stage.shape;
    caption.textContent = `${stage.name}, map ${index + 1} of ${count} (${height}×${width}); ` +
      `colours span ${lenet.number(stage.low)} to ${lenet.number(stage.high)}, ` +
      "one scale for the whole layer";
  }
  function step(by) {
    index = (index + by + stage.maps.length) % stage.maps.length;
    draw();
  }
  document.getElementById("zoom-prev").addEventListener("click", () => step(-1));
  document.getElementById("zoom-next").addEventListener("click", () => step(1));
  document.getElementById("zoom-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("keydown", event => {
    if (event.key === "ArrowLeft") step(-1);
    if (event.key === "ArrowRight") step(1);
  });
  dialog.addEventListener("click", event => {
    if (event.target === dialog) dialog.close();  // a click outside the box
  });
  return {
    open(chosen, at) {
      stage = chosen;
      index = at;
      draw();
      dialog.showModal();
    },
  };
})();

// ---- start -----------------------------------------------------------------------------
select.addEventListener("change", () => {
  if (lastImage) send(lastImage);
});

async function start() {
  clearPad();
  busy(false);
  const answer = await lenet.getJSON("/api/models");
  models = answer.models;
  select.replaceChildren(...models.map(model => {
    const option = lenet.element("option", null, model.name);
    option.value = model.name;
    return option;
  }));
  showEmpty();
}

start().catch(error => { status.textContent = error.message; });
