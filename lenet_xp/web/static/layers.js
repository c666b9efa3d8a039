// Every layer of one model on the Draw page: each stage's sentence and formula, its colour
// bar, its maps (or values), the kernels of each convolution; and the inspector, a dialog that
// shows how one unit of a map is computed: its receptive field on the input and on the maps
// below, the kernel it applies and the numbers of its dot product (after CNN Explainer, Wang
// et al. 2020). The page computes a unit from what the server sent (the stage below and the
// layer's parameters) and says both numbers: what it computed and what the network gave.
"use strict";

const layers = (() => {
  let view = [];  // the stages shown: the network's description with this digit's values

  // ---- data: GET /api/network/NAME (once per weights) joined with an answer's values -----
  function join(network, answer) {
    return network.stages.map((stage, i) => {
      const values = lenet.floats(answer.stages[i]).values;
      const params = {};
      for (const [name, array] of Object.entries(stage.params)) params[name] = lenet.floats(array);
      return {...stage, index: i, values, params, high: lenet.magnitude(values)};
    });
  }

  const at = (stage, c, r, q) => stage.values[(c * stage.shape[1] + r) * stage.shape[2] + q];

  // ---- the stages ----------------------------------------------------------------------
  function render(network, answer) {
    view = join(network, answer);
    document.getElementById("layers-note").hidden = true;
    document.getElementById("stages").replaceChildren(...view.map(stageBox));
  }

  function clear() {
    view = [];
    document.getElementById("stages").replaceChildren();
    document.getElementById("layers-note").hidden = false;
  }

  function stageBox(stage) {
    const box = lenet.element("section", `stage stage-${stage.kind}`);
    box.dataset.stage = stage.name;
    const head = lenet.element("div", "stage-head");
    const title = lenet.element("h3");
    title.append(lenet.element("b", null, stage.name),
                 lenet.element("span", "muted", ` ${stage.layer} · ${shapeText(stage.shape)}`));
    const sentence = lenet.element("p", "sentence", `${stage.sentence}: `);
    sentence.append(lenet.element("code", "formula", stage.formula));
    head.append(title, sentence);
    if (stage.kind !== "classes") head.append(lenet.colourBar(stage.high, stage.name));
    box.append(head);
    if (stage.op.type === "conv") box.append(kernelGrid(stage));
    if (stage.kind === "maps") box.append(mapGrid(stage));
    else if (stage.kind === "vector") box.append(strip(stage));
    else box.append(classBars(stage));
    return box;
  }

  function shapeText(shape) {
    return shape.length === 3 ? `${shape[0]}×${shape[1]}×${shape[2]}` : `${shape[0]} values`;
  }

  function mapGrid(stage) {
    const [count, height, width] = stage.shape;
    const grid = lenet.element("div", "maps");
    const size = Math.max(44, Math.min(72, 4 * height));
    for (let c = 0; c < count; c++) {
      const canvas = lenet.paintValues(lenet.element("canvas", "map"), width, height,
        stage.values.subarray(c * height * width, (c + 1) * height * width), stage.high);
      canvas.style.width = canvas.style.height = `${size}px`;
      canvas.tabIndex = 0;
      canvas.setAttribute("role", "button");
      canvas.setAttribute("aria-label", `${stage.name} map ${c + 1} of ${count}: open to see ` +
                          "how its units are computed");
      canvas.addEventListener("click", event => {
        const box = canvas.getBoundingClientRect();
        const r = Math.min(height - 1, Math.floor((event.clientY - box.top) / box.height * height));
        const q = Math.min(width - 1, Math.floor((event.clientX - box.left) / box.width * width));
        inspector.open(stage.index, c, Math.max(0, r), Math.max(0, q));
      });
      canvas.addEventListener("keydown", event => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          inspector.open(stage.index, c, Math.floor(height / 2), Math.floor(width / 2));
        }
      });
      grid.append(canvas);
    }
    return grid;
  }

  function strip(stage) {
    const values = stage.values;
    const canvas = lenet.paintValues(lenet.element("canvas", "strip"), values.length, 1,
                                     values, stage.high);
    canvas.style.width = `${Math.min(100, Math.max(20, values.length / 5))}%`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${stage.name}: ${values.length} values from ` +
      `${lenet.number(Math.min(...values))} to ${lenet.number(Math.max(...values))}`);
    return canvas;
  }

  // The kernels of a convolution in one picture: a column per output map, a row per input
  // map (one row when the input is one map), blank where the connection table has none.
  function kernelGrid(stage) {
    const weight = stage.params.weight;
    const [outputs, inputs, k] = weight.shape;
    const high = lenet.magnitude(weight.values);
    const cell = k + 1;
    const canvas = lenet.element("canvas", "kernels");
    canvas.width = outputs * cell - 1;
    canvas.height = inputs * cell - 1;
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    const tile = lenet.element("canvas");
    for (let f = 0; f < outputs; f++) {
      for (const c of stage.op.reads[f]) {
        const start = (f * inputs + c) * k * k;
        lenet.paintValues(tile, k, k, weight.values.subarray(start, start + k * k), high);
        context.drawImage(tile, f * cell, c * cell);
      }
    }
    const zoom = Math.max(1, Math.min(8, Math.floor(480 / canvas.width)));
    canvas.style.width = `${canvas.width * zoom}px`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${stage.name}'s ${outputs} kernels of ${k}×${k}` +
      (inputs > 1 ? `, one column per output map, one row per input map` : ""));
    const figure = lenet.element("figure", "kernel-figure");
    if (stage.index === view.findIndex(s => s.op.type === "conv")) figure.dataset.testid = "kernels";
    const caption = lenet.element("figcaption", "note",
      `The kernels (weights w), ${k}×${k} each` +
      (inputs > 1 ? ": a column per map of this layer, a row per map it reads" : "") +
      "; their own scale:");
    figure.append(caption, canvas, lenet.colourBar(high, `${stage.name}'s kernels`));
    return figure;
  }

  // One bar per class: the penalties of an RBF output (the smallest wins), a dense layer's
  // outputs, or the scores (the largest wins), with 'none of these' for the MAP posterior.
  function classBars(stage) {
    const values = Array.from(stage.values);
    const smallestWins = stage.op.type === "rbf";
    const best = values.indexOf(smallestWins ? Math.min(...values) : Math.max(...values));
    const high = lenet.magnitude(values) || 1;
    const box = lenet.element("div", "bars output-bars");
    const rows = values.map((value, digit) => [String(digit), value, digit === best, digit]);
    if (stage.op.type === "map") rows.push(["none", 1 - values.reduce((a, b) => a + b, 0), false, -1]);
    for (const [label, value, isBest, digit] of rows) {
      const row = lenet.element(clickable(stage) ? "button" : "div", isBest ? "bar-row best" : "bar-row");
      const track = lenet.element("span", "bar");
      const fill = lenet.element("span", "fill");
      fill.style.width = `${(100 * Math.abs(value) / (stage.op.type === "map" ? 1 : high)).toFixed(1)}%`;
      track.append(fill);
      const shown = stage.name === "scores" ? lenet.percent(value) : lenet.number(value);
      row.append(lenet.element("span", "cls", label), track, lenet.element("span", "val", shown));
      if (clickable(stage) && digit >= 0) {
        row.type = "button";
        row.title = `${stage.name} ${label}: show how it is computed`;
        row.addEventListener("click", () => inspector.open(stage.index, digit, 0, 0));
      }
      box.append(row);
    }
    return box;
  }

  const clickable = stage => ["rbf", "map", "softmax", "softmax_negated"].includes(stage.op.type);

  // ---- receptive fields -----------------------------------------------------------------
  // The box of stage i's units (rows r0..r1, columns c0..c1) -> the box of stage i-1 they read.
  function back(stage, below, [r0, r1, c0, c1]) {
    const op = stage.op;
    if (["conv", "max", "mean", "subsample"].includes(op.type)) {
      const k = op.kernel, s = op.stride, p = op.padding || 0;
      [r0, r1, c0, c1] = [r0 * s - p, r1 * s - p + k - 1, c0 * s - p, c1 * s - p + k - 1];
    } else if (op.type === "zoom") {
      const matrix = stage.params.matrix, size = matrix.shape[0];
      const reach = (from, to) => {
        const used = [];
        for (let i = from; i <= to; i++) {
          for (let a = 0; a < size; a++) if (matrix.values[i * size + a] > 0) used.push(a);
        }
        return [Math.min(...used), Math.max(...used)];
      };
      [r0, r1] = reach(r0, r1);
      [c0, c1] = reach(c0, c1);
    }
    const [, height, width] = below.shape;
    return [Math.max(0, r0), Math.min(height - 1, r1), Math.max(0, c0), Math.min(width - 1, c1)];
  }

  // The boxes a unit of stage i reads on every maps stage below it, back to the input.
  function field(i, r, q) {
    const boxes = {};
    let box = [r, r, q, q];
    for (let j = i; j > 0 && view[j - 1].kind === "maps"; j--) {
      box = back(view[j], view[j - 1], box);
      boxes[j - 1] = box;
    }
    return boxes;
  }

  // Map c of a stage, each unit `px` pixels, with a box outlined.
  function mapWithBox(stage, c, box, px) {
    const [, height, width] = stage.shape;
    const small = lenet.paintValues(lenet.element("canvas"), width, height,
      stage.values.subarray(c * height * width, (c + 1) * height * width), stage.high);
    const canvas = lenet.element("canvas", "field");
    canvas.width = width * px;
    canvas.height = height * px;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(small, 0, 0, canvas.width, canvas.height);
    if (box) {
      const [r0, r1, c0, c1] = box;
      context.lineWidth = 2;
      context.strokeStyle = "#111";
      context.strokeRect(c0 * px + 1, r0 * px + 1, (c1 - c0 + 1) * px - 2, (r1 - r0 + 1) * px - 2);
      context.strokeStyle = "#ffd400";
      context.setLineDash([3, 3]);
      context.strokeRect(c0 * px + 1, r0 * px + 1, (c1 - c0 + 1) * px - 2, (r1 - r0 + 1) * px - 2);
    }
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", box ? `${stage.name} map ${c + 1}, rows ${box[0] + 1} to ` +
      `${box[1] + 1}, columns ${box[2] + 1} to ${box[3] + 1} outlined` : `${stage.name} map ${c + 1}`);
    return canvas;
  }

  // ---- one unit, computed from the stage below and the layer's parameters ---------------
  // Each returns {computed, parts: [nodes]}: the unit's value as the page computes it.
  const units = {
    input(stage, c, r, q) {
      const y = at(stage, c, r, q);
      return {computed: y, parts: [line(`x = ${stage.formula.split("=")[1].trim()} = ${lenet.number(y)}`)]};
    },
    conv(stage, c, r, q, below) {
      const {kernel: k, stride: s, padding: p} = stage.op;
      const weight = stage.params.weight, inputs = weight.shape[1];
      const bias = stage.params.bias.values[c];
      const parts = [], sums = [];
      for (const ch of stage.op.reads[c]) {
        const products = [];
        let sum = 0;
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const row = r * s - p + i, col = q * s - p + j;
            const inside = row >= 0 && col >= 0 && row < below.shape[1] && col < below.shape[2];
            const x = inside ? at(below, ch, row, col) : 0;
            const w = weight.values[((c * inputs + ch) * k + i) * k + j];
            products.push([w, x]);
            sum += w * x;
          }
        }
        sums.push(sum);
        parts.push(readMap(stage, below, c, ch, r, q, products, sum, k, parts.length === 0));
      }
      const computed = bias + sums.reduce((a, b) => a + b, 0);
      parts.unshift(line(`y = b + Σ w·x = ${lenet.number(bias)} + ${sumText(sums)} = ` +
                         `${lenet.number(computed)}, one sum for each map it reads:`));
      return {computed, parts};
    },
    max(stage, c, r, q, below) {
      const xs = windowOf(stage, c, r, q, below);
      const computed = Math.max(...xs);
      return {computed, parts: [windowTable(xs, stage.op.kernel),
        line(`y = max x = max(${xs.map(lenet.number).join(", ")}) = ${lenet.number(computed)}`)]};
    },
    mean(stage, c, r, q, below) {
      const xs = windowOf(stage, c, r, q, below);
      const computed = xs.reduce((a, b) => a + b, 0) / xs.length;
      return {computed, parts: [windowTable(xs, stage.op.kernel),
        line(`y = (1/${xs.length}) Σ x = ${lenet.number(computed)}`)]};
    },
    subsample(stage, c, r, q, below) {
      const xs = windowOf(stage, c, r, q, below);
      const a = stage.params.coefficient.values[c], b = stage.params.bias.values[c];
      const sum = xs.reduce((u, v) => u + v, 0);
      const computed = b + a * sum;
      return {computed, parts: [windowTable(xs, stage.op.kernel),
        line(`y = b + c · Σ x = ${lenet.number(b)} + ${lenet.number(a)} × ${lenet.number(sum)} = ` +
             `${lenet.number(computed)}`)]};
    },
    relu(stage, c, r, q, below) {
      const x = at(below, c, r, q), computed = Math.max(0, x);
      return {computed, parts: [line(`y = max(0, x) = max(0, ${lenet.number(x)}) = ${lenet.number(computed)}`)]};
    },
    scaled_tanh(stage, c, r, q, below) {
      const {amplitude: a, slope: s} = stage.op;
      const x = at(below, c, r, q), computed = a * Math.tanh(s * x);
      const formula = a === 1 && s === 1 ? `tanh(${lenet.number(x)})`
        : `${a} tanh(${lenet.number(s)} × ${lenet.number(x)})`;
      return {computed, parts: [line(`y = ${formula} = ${lenet.number(computed)}`)]};
    },
    sigmoid(stage, c, r, q, below) {
      const x = at(below, c, r, q), computed = 1 / (1 + Math.exp(-x));
      return {computed, parts: [line(`y = 1 / (1 + e^(−x)) = 1 / (1 + e^(${lenet.number(-x)})) = ` +
                                     `${lenet.number(computed)}`)]};
    },
    batchnorm(stage, c, r, q, below) {
      const x = at(below, c, r, q);
      const [g, b, m, v] = ["gamma", "beta", "mean", "var"].map(n => stage.params[n].values[c]);
      const computed = g * (x - m) / Math.sqrt(v + stage.op.eps) + b;
      return {computed, parts: [line(`y = γ (x − μ) / √(σ² + ε) + β = ${lenet.number(g)} × ` +
        `(${lenet.number(x)} − ${lenet.number(m)}) / √(${lenet.number(v)} + ${stage.op.eps}) + ` +
        `${lenet.number(b)} = ${lenet.number(computed)}`)]};
    },
    zoom(stage, c, r, q, below) {
      const matrix = stage.params.matrix, size = matrix.shape[0];
      let computed = 0;
      for (let a = 0; a < size; a++) {
        for (let b = 0; b < size; b++) {
          computed += matrix.values[r * size + a] * matrix.values[q * size + b] * at(below, c, a, b);
        }
      }
      return {computed, parts: [line(`y = Σ R_ra R_qb x_ab, the mean of the outlined pixels ` +
                                      `weighted by how much of each the pixel covers = ${lenet.number(computed)}`)]};
    },
    repeat(stage, c, r, q, below) {
      const source = Math.floor(c / stage.op.copies), computed = at(below, source, r, q);
      return {computed, parts: [line(`y = x of map ${source + 1} = ${lenet.number(computed)}`)]};
    },
    rbf(stage, digit, r, q, below) {
      const prototypes = stage.params.prototypes, inputs = prototypes.shape[1];
      const w = prototypes.values.subarray(digit * inputs, (digit + 1) * inputs);
      const x = below.values, squares = Array.from(w, (wj, j) => (x[j] - wj) ** 2);
      const computed = squares.reduce((a, b) => a + b, 0);
      const parts = [];
      if (inputs === 84) {  // the paper's 7×12 bitmaps: the prototype beside the input
        const row = lenet.element("div", "rbf-pictures");
        const pictures = [[`prototype of ${digit} (w)`, w], [`${below.name} (x)`, x],
                          ["(x − w)²", Float32Array.from(squares)]];
        for (const [label, values] of pictures) {
          const figure = lenet.element("figure", "rbf-picture");
          const canvas = lenet.paintValues(lenet.element("canvas"), 7, 12, values,
                                           lenet.magnitude(values) || 1);
          canvas.setAttribute("role", "img");
          canvas.setAttribute("aria-label", label);
          figure.append(canvas, lenet.element("figcaption", "note", label));
          row.append(figure);
        }
        parts.push(row);
      }
      parts.push(line(`y_${digit} = Σ_j (x_j − w_${digit}j)² over ${inputs} values = ` +
                      `${squares.slice(0, 3).map(lenet.number).join(" + ")} + … = ${lenet.number(computed)}`));
      return {computed, parts};
    },
    map(stage, digit, r, q, below) {
      const y = Array.from(below.values), j = stage.op.j;
      const total = Math.exp(-j) + y.reduce((a, v) => a + Math.exp(-v), 0);
      const computed = Math.exp(-y[digit]) / total;
      return {computed, parts: [line(`P_${digit} = e^(−y_${digit}) / (e^(−j) + Σ_k e^(−y_k)) = ` +
        `e^(${lenet.number(-y[digit])}) / (e^(−${j}) + …) = ${lenet.number(computed)}; ` +
        `'none of these' gets e^(−${j}) / (…) = ${lenet.number(Math.exp(-j) / total)}`)]};
    },
    softmax(stage, digit, r, q, below, sign = 1) {
      const y = Array.from(below.values, v => sign * v), top = Math.max(...y);
      const total = y.reduce((a, v) => a + Math.exp(v - top), 0);
      const computed = Math.exp(y[digit] - top) / total;
      const e = sign > 0 ? `e^(y_${digit}) / Σ_k e^(y_k)` : `e^(−y_${digit}) / Σ_k e^(−y_k)`;
      return {computed, parts: [line(`p_${digit} = ${e} = ${lenet.number(computed)}`)]};
    },
    softmax_negated(stage, digit, r, q, below) {
      return units.softmax(stage, digit, r, q, below, -1);
    },
  };

  function windowOf(stage, c, r, q, below) {
    const {kernel: k, stride: s} = stage.op, xs = [];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) xs.push(at(below, c, r * s + i, q * s + j));
    return xs;
  }

  function line(text) {
    return lenet.element("p", "unit-line", text);
  }

  function sumText(sums) {
    if (sums.length === 1) return lenet.number(sums[0]);
    const shown = sums.slice(0, 4).map(v => `(${lenet.number(v)})`).join(" + ");
    return sums.length > 4 ? `${shown} + … (${sums.length} maps)` : shown;
  }

  function windowTable(xs, k) {
    const table = lenet.element("table", "numbers");
    table.append(lenet.element("caption", "note", "the window's values x"));
    for (let i = 0; i < k; i++) {
      const row = lenet.element("tr");
      for (let j = 0; j < k; j++) row.append(lenet.element("td", null, lenet.number(xs[i * k + j])));
      table.append(row);
    }
    return table;
  }

  // One map read by a convolution's unit: that map with the window outlined, the kernel
  // applied to it, the sum of its products, and every product in a table (open for the first).
  function readMap(stage, below, c, ch, r, q, products, sum, k, first) {
    const box = back(stage, below, [r, r, q, q]);
    const row = lenet.element("div", "read-map");
    const px = Math.max(3, Math.floor(84 / below.shape[1]));
    const kernel = lenet.paintValues(lenet.element("canvas", "kernel"), k, k,
      Float32Array.from(products, ([w]) => w), lenet.magnitude(stage.params.weight.values));
    kernel.setAttribute("role", "img");
    kernel.setAttribute("aria-label", `the kernel for ${below.name} map ${ch + 1}`);
    const text = lenet.element("p", "note", `${below.name} map ${ch + 1} × its kernel: ` +
                               `Σ w·x = ${lenet.number(sum)}`);
    const details = lenet.element("details", "products");
    details.open = first;
    details.append(lenet.element("summary", null, `the ${k * k} products w × x`));
    const table = lenet.element("table", "numbers");
    for (let i = 0; i < k; i++) {
      const tr = lenet.element("tr");
      for (let j = 0; j < k; j++) {
        const [w, x] = products[i * k + j];
        tr.append(lenet.element("td", null, `${lenet.number(w)} × ${lenet.number(x)}`));
      }
      table.append(tr);
    }
    details.append(table);
    row.append(mapWithBox(below, ch, box, px), kernel, text, details);
    return row;
  }

  // ---- the inspector: one map enlarged, one of its units explained ----------------------
  const inspector = (() => {
    const dialog = document.getElementById("zoom");
    const canvas = document.getElementById("zoom-canvas");
    const unit = document.getElementById("unit");
    let stageIndex = 0, channel = 0, row = 0, col = 0;

    function stage() {
      return view[stageIndex];
    }

    function drawMap() {
      const s = stage();
      const mapMode = s.kind === "maps";
      canvas.hidden = !mapMode;
      document.getElementById("zoom-help").hidden = !mapMode;
      for (const id of ["zoom-prev", "zoom-next"]) document.getElementById(id).hidden = !mapMode;
      document.getElementById("zoom-bar").replaceChildren(mapMode ? lenet.colourBar(s.high, s.name) : "");
      document.getElementById("zoom-sentence").textContent = `${s.sentence}: ${s.formula}`;
      if (!mapMode) {
        document.getElementById("zoom-title").textContent = `${s.name}, ${s.name === "scores" ? "score" : "unit"} of ${channel}`;
        return;
      }
      const [count, height, width] = s.shape;
      document.getElementById("zoom-title").textContent =
        `${s.name}, map ${channel + 1} of ${count} (${height}×${width})`;
      const px = Math.max(4, Math.floor(336 / height));
      const picture = mapWithBox(s, channel, [row, row, col, col], px);
      canvas.width = picture.width;
      canvas.height = picture.height;
      canvas.getContext("2d").drawImage(picture, 0, 0);
      canvas.setAttribute("aria-label", `${s.name} map ${channel + 1}, enlarged; unit at row ` +
                          `${row + 1}, column ${col + 1} chosen`);
    }

    function explain() {
      const s = stage(), below = view[stageIndex - 1];
      const how = units[s.op.type];
      const shown = s.kind === "maps" ? at(s, channel, row, col) : s.values[channel];
      unit.replaceChildren();
      const where = s.kind === "maps" ? `unit at row ${row + 1}, column ${col + 1}` : `${channel}`;
      const title = lenet.element("h3", null, `${s.name} ${where}: ${lenet.number(shown)}`);
      unit.append(title);
      if (!how) {
        unit.append(line("Each unit here weighs every value of the layer below (the weights " +
                         "are not sent: too many to show one by one)."));
        return;
      }
      const boxes = s.kind === "maps" ? field(stageIndex, row, col) : {};
      if (boxes[0]) {
        const [r0, r1, c0, c1] = boxes[0];
        const figure = lenet.element("figure", "input-field");
        figure.append(mapWithBox(view[0], 0, boxes[0], Math.max(3, Math.floor(96 / view[0].shape[1]))),
          lenet.element("figcaption", "note", `Its receptive field: ${r1 - r0 + 1}×${c1 - c0 + 1} ` +
            `pixels of the input (rows ${r0 + 1}–${r1 + 1}, columns ${c0 + 1}–${c1 + 1})`));
        unit.append(figure);
      }
      if (below && below.kind === "maps" && s.op.type !== "conv" && s.kind === "maps" && stageIndex > 1) {
        const source = s.op.type === "repeat" ? Math.floor(channel / s.op.copies) : channel;
        unit.append(mapWithBox(below, source, boxes[stageIndex - 1],
                               Math.max(3, Math.floor(84 / below.shape[1]))));
      }
      const {computed, parts} = how(s, channel, row, col, below);
      unit.append(...parts);
      unit.append(lenet.element("p", "note", `The page computed ${lenet.number(computed)} from ` +
                                `${below ? below.name + " and " : ""}the layer's parameters; ` +
                                `the network gave ${lenet.number(shown)}.`));
      unit.dataset.computed = String(computed);
      unit.dataset.shown = String(shown);
    }

    function update() {
      drawMap();
      explain();
    }

    function pick(event) {
      const s = stage();
      if (s.kind !== "maps") return;
      const box = canvas.getBoundingClientRect();
      const [, height, width] = s.shape;
      row = Math.max(0, Math.min(height - 1, Math.floor((event.clientY - box.top) / box.height * height)));
      col = Math.max(0, Math.min(width - 1, Math.floor((event.clientX - box.left) / box.width * width)));
      update();
    }

    function step(by) {
      const count = stage().shape[0];
      channel = (channel + by + count) % count;
      update();
    }

    canvas.addEventListener("pointermove", event => { if (event.pointerType === "mouse") pick(event); });
    canvas.addEventListener("pointerdown", pick);
    canvas.addEventListener("keydown", event => {
      const [, height, width] = stage().shape;
      const moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
      if (moves[event.key]) {
        event.preventDefault();
        row = Math.max(0, Math.min(height - 1, row + moves[event.key][0]));
        col = Math.max(0, Math.min(width - 1, col + moves[event.key][1]));
        update();
      }
    });
    document.getElementById("zoom-prev").addEventListener("click", () => step(-1));
    document.getElementById("zoom-next").addEventListener("click", () => step(1));
    document.getElementById("zoom-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", event => {
      if (event.target === dialog) dialog.close();  // a click outside the box
    });
    return {
      open(index, c, r, q) {
        [stageIndex, channel, row, col] = [index, c, r, q];
        update();
        if (!dialog.open) dialog.showModal();
        (stage().kind === "maps" ? canvas : document.getElementById("zoom-close")).focus();
      },
    };
  })();

  return {render, clear, open: inspector.open};
})();
