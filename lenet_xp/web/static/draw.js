// The Draw page: a pad drawn on with mouse, pen or finger (Pointer Events), an upload and
// drop zone, and a test digit opened from the Evaluate page (/?test=INDEX). Each drawing goes
// to POST /api/predict (at most four times a second while drawing, and at once when the pen
// lifts) and the answer shows the digit the networks saw, every model's scores, a warning
// where the ink may not be one digit, and every layer of one model (layers.js).
"use strict";

const MAX_UPLOAD = 1 << 20;   // the server refuses larger bodies
const THROTTLE_MS = 250;      // at most four requests a second while drawing
const MODELS_POLL_MS = 3000;  // how often the served models are read again (runs train on)
const INK_WIDTH = 20;         // pen width on the 280-pixel pad (MNIST strokes: 2-3 of 28)

const pad = document.getElementById("pad");
const ink = pad.getContext("2d", {alpha: false, willReadFrequently: true});
const status = document.getElementById("status");
const answerLine = document.getElementById("answer");
const select = document.getElementById("layers-model");
let models = [];
let lastSent = null;          // what was sent last ({image} or {test}), again when the model changes
let lastAnswer = null;
let timer = null, inFlight = false, pending = null;
let cleared = 0;              // how often the pad was cleared: older answers are not shown
const networks = new Map();   // model name -> GET /api/network/NAME, of one weights version

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
    if (strokes.delete(event.pointerId)) {
      performance.mark("pen-up");
      sendPad();
    }
  });
}

document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  cleared += 1;
  clearTimeout(timer);
  timer = null;
  lastSent = null;
  pending = null;
  if (!inFlight) busy(false);
  status.textContent = "";
  document.getElementById("test-note").hidden = true;
  showEmpty();
});

// ---- requests: throttled, one in flight, the newest drawing wins --------------------
// The pad's data-state is "busy" while an answer is awaited, "idle" once the page shows the
// answer to the newest drawing (a hook for tests and scripts).
function busy(yes) {
  pad.dataset.state = yes ? "busy" : "idle";
  answerLine.setAttribute("aria-busy", yes ? "true" : "false");
}

function schedule() {
  busy(true);
  if (timer === null) timer = setTimeout(sendPad, THROTTLE_MS);
}

// The pad as a PGM file (a header and one grey byte per pixel), made at once: no PNG
// encoding, whose callback (canvas.toBlob) came about a second after the pen lifted.
function padImage() {
  const rgba = ink.getImageData(0, 0, pad.width, pad.height).data;
  const grey = new Uint8Array(pad.width * pad.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  return new Blob([`P5 ${pad.width} ${pad.height} 255\n`, grey], {type: "image/x-portable-graymap"});
}

function sendPad() {
  clearTimeout(timer);
  timer = null;
  send({image: padImage()});
}

function request(what) {
  const query = `top=10&layers=${encodeURIComponent(select.value)}`;
  if (what.test !== undefined) return lenet.getJSON(`/api/testset/${what.test}?${query}`);
  return lenet.getJSON(`/api/predict?${query}`, {method: "POST", body: what.image});
}

function send(what) {
  busy(true);
  lastSent = what;
  if (inFlight) {
    pending = what;
    return;
  }
  inFlight = true;
  const sentAfter = cleared;
  request(what).then(async answer => {
    if (pending || sentAfter !== cleared) return;
    await show(answer);
    status.textContent = "";
  }).catch(error => {
    if (sentAfter !== cleared || pending) return;
    showEmpty();  // a refused image leaves no earlier answer beside its error
    status.textContent = error.message;
  }).finally(() => {
    inFlight = false;
    if (pending) {
      const next = pending;
      pending = null;
      send(next);
    } else if (timer === null) {
      busy(false);
    }
  });
}

// ---- upload and drop: the file itself is sent, and shown on the pad ------------------
async function upload(file) {
  if (!file) return;
  if (file.size > MAX_UPLOAD) {
    busy(false);
    showEmpty();
    status.textContent = `${file.name} is ${(file.size / 1048576).toFixed(1)} MiB: the server ` +
      "takes images up to 1 MiB, make it smaller first";
    return;
  }
  status.textContent = `${file.name}…`;
  document.getElementById("test-note").hidden = true;
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
  send({image: file});
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

// ---- a test digit from the Evaluate page: /?test=INDEX&model=NAME -------------------------
function drawDigit(image) {  // the 28×28 digit on the pad, dark ink on white as drawn
  const digit = lenet.paint(lenet.element("canvas"), image);
  const context = digit.getContext("2d");
  const data = context.getImageData(0, 0, 28, 28);
  for (let i = 0; i < data.data.length; i += 4) {
    for (let c = 0; c < 3; c++) data.data[i + c] = 255 - data.data[i + c];
  }
  context.putImageData(data, 0, 0);
  ink.imageSmoothingEnabled = false;
  ink.drawImage(digit, 0, 0, pad.width, pad.height);
}

// ---- the answer -----------------------------------------------------------------------
function showEmpty() {
  lastAnswer = null;
  lenet.paint(document.getElementById("seen"),
              {width: 28, height: 28, pixels: btoa("\0".repeat(784))});
  renderCards(null);
  answerLine.textContent = "";
  document.getElementById("doubt").hidden = true;
  layers.clear();
}

async function show(answer) {
  lastAnswer = answer;
  lenet.paint(document.getElementById("seen"), answer.digit);
  renderCards(answer.predictions);
  const doubt = document.getElementById("doubt");
  doubt.hidden = !answer.doubt;
  doubt.textContent = answer.doubt ? `This may not be a digit: ${answer.doubt}.` : "";
  if (answer.test) {
    const note = document.getElementById("test-note");
    note.hidden = false;
    note.textContent = `Test digit #${answer.test.index}, labelled ${answer.test.label} ` +
      "(from the Evaluate page). Draw over it, or Clear to start afresh.";
  }
  await showLayers(answer.layers);
  performance.mark("answer-shown");
}

async function showLayers(answer) {
  if (!answer.stages.length) {
    layers.clear();
    return;
  }
  let network = networks.get(answer.model);
  if (!network || network.version !== answer.version) {
    network = await lenet.getJSON(`/api/network/${encodeURIComponent(answer.model)}`);
    networks.set(answer.model, network);
  }
  if (network.version === answer.version) layers.render(network, answer);
}

// What a model's winning score says: a probability, or for the MAP posterior the penalty
// that won and the share left to "none of these".
function winner(prediction) {
  const [digit, score] = prediction.top[0];
  if (prediction.penalties) return `${digit} · penalty ${lenet.number(prediction.penalties[digit])}`;
  return `${digit} · ${lenet.percent(score)}`;
}

function modelState(model) {
  if (model.error) return model.error.includes("waiting for") ? "waiting for the run to start"
    : "no weights yet";
  const trained = model.test_accuracy !== null
    ? `${model.epoch} epochs, test accuracy ${lenet.percent(model.test_accuracy, 2)}`
    : `training: epoch ${model.epoch}${model.epochs ? ` of ${model.epochs}` : ""}` +
      (model.val_accuracy !== null ? `, validation accuracy ${lenet.percent(model.val_accuracy, 2)}` : "");
  return `${model.network} · ${model.parameters.toLocaleString("en")} parameters · ${trained}`;
}

function renderCards(predictions) {
  const cards = models.map((model, index) => {
    const card = lenet.element("div", "model-card");
    card.style.borderTopColor = lenet.COLOURS[index % lenet.COLOURS.length];
    const head = lenet.element("div", "card-head");
    const state = lenet.element("span", "muted", modelState(model));
    state.dataset.testid = `state-${model.name}`;
    head.append(lenet.element("span", "model-name", model.name), state);
    card.append(head);
    const result = predictions && predictions[index];
    const ok = result && result.top;
    const top = lenet.element("div", "top");
    const digit = lenet.element("span", "top-digit", ok ? String(result.top[0][0]) : "–");
    if (index === 0) digit.dataset.testid = "top-digit";
    digit.dataset.model = model.name;
    top.append(digit, lenet.element("span", "top-score", ok ? winner(result).split(" · ")[1] : ""));
    card.append(top);
    if (result && result.error) card.append(lenet.element("p", "note", result.error));
    if (ok && result.penalties) card.append(posteriorNote(result));
    card.append(bars(result));
    if (!model.error) card.append(lenet.element("p", "note", ok && result.penalties
      ? "bars: the RBF penalties, the squared distance to each digit's bitmap (the shortest wins)"
      : model.score_name));
    return card;
  });
  document.getElementById("models").replaceChildren(...cards);
  const first = predictions && predictions.find(p => p.top);
  answerLine.textContent = first ? `${first.model} reads ${winner(first)}` : "";
}

function posteriorNote(result) {
  const [digit, score] = result.top[0];
  const note = lenet.element("p", "posterior");
  note.dataset.testid = `posterior-${result.model}`;
  note.textContent = `Posterior of ${digit}: ${lenet.percent(score)}; left to 'none of ` +
    `these': ${lenet.percent(result.none)}. The MAP criterion keeps a class of penalty ` +
    "j = 5 for ink that is no digit: every penalty above it hands that class the mass.";
  return note;
}

// Ten bars, digit 0 to 9, the best one marked: the scores, or an RBF model's penalties.
function bars(result) {
  const scores = new Array(10).fill(0);
  const ok = result && result.top;
  if (ok) for (const [digit, score] of result.top) scores[digit] = score;
  const values = ok && result.penalties ? result.penalties : scores;
  const high = ok && result.penalties ? Math.max(...values) || 1 : 1;
  const best = ok ? result.top[0][0] : -1;
  const box = lenet.element("div", "bars");
  values.forEach((value, digit) => {
    const row = lenet.element("div", digit === best ? "bar-row best" : "bar-row");
    const track = lenet.element("span", "bar");
    const fill = lenet.element("span", "fill");
    fill.style.width = `${(100 * value / high).toFixed(1)}%`;
    track.append(fill);
    row.append(lenet.element("span", "cls", String(digit)), track,
               lenet.element("span", "val", !ok ? "" : result.penalties ? lenet.number(value)
                 : lenet.percent(value)));
    box.append(row);
  });
  return box;
}

// ---- the served models, read again every few seconds: a run gets weights, trains on ------
async function refreshModels() {
  const answer = await lenet.getJSON("/api/models");
  const before = JSON.stringify(models);
  const gained = answer.models.some((model, i) => !model.error && models[i] && models[i].error);
  models = answer.models;
  if (JSON.stringify(models) === before) return;
  renderCards(lastAnswer && lastAnswer.predictions);
  if (gained && lastSent) send(lastSent);  // its scores, now that it has weights
}

// ---- start -----------------------------------------------------------------------------
select.addEventListener("change", () => {
  if (lastSent) send(lastSent);
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
  const params = new URLSearchParams(location.search);
  if (params.has("model") && models.some(m => m.name === params.get("model"))) {
    select.value = params.get("model");
  }
  showEmpty();
  setInterval(() => refreshModels().catch(() => {}), MODELS_POLL_MS);
  const test = params.get("test");
  if (test !== null && /^\d+$/.test(test)) {
    lastSent = {test: Number(test)};
    const answer = await request(lastSent);
    drawDigit(answer.digit);
    await show(answer);
  }
}

start().catch(error => { status.textContent = error.message; });
