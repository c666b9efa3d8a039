// What every page uses: the API, images and float arrays sent as base64, the diverging colour
// scale with its colour bar, numbers.
"use strict";

const lenet = (() => {
  // ColorBrewer's RdBu, 11 classes, blue for negative values, near-white at 0, red for
  // positive ones: a diverging scale that colour-blind readers tell apart.
  const RDBU = [[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
    [247, 247, 247], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]];
  const diverging = new Uint8Array(256 * 3);
  for (let level = 0; level < 256; level++) {
    const t = level / 255 * (RDBU.length - 1), i = Math.min(Math.floor(t), RDBU.length - 2);
    for (let c = 0; c < 3; c++) {
      diverging[3 * level + c] = Math.round(RDBU[i][c] + (t - i) * (RDBU[i + 1][c] - RDBU[i][c]));
    }
  }
  const grey = new Uint8Array(256 * 3).map((_, k) => Math.floor(k / 3));

  // Colours of the served models and runs, in order (Okabe-Ito, colour-blind safe).
  const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

  async function getJSON(url, options) {
    const response = await fetch(url, options);
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      throw new Error(`${url}: the server answered ${response.status} without JSON`);
    }
    if (!response.ok) throw new Error(answer.error || `${url}: ${response.status}`);
    return answer;
  }

  function bytes(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  // An API array ({shape, data}: base64 of float32 numbers) -> {shape, values: Float32Array}.
  function floats(array) {
    return {shape: array.shape, values: new Float32Array(bytes(array.data).buffer)};
  }

  // Paint an API image ({width, height, pixels}) into a canvas, one canvas pixel per pixel.
  function paint(canvas, image) {
    return paintLevels(canvas, image.width, image.height, bytes(image.pixels), grey);
  }

  // Paint numbers (row by row) on the diverging scale -high..high (0 is the middle colour).
  function paintValues(canvas, width, height, values, high) {
    const levels = new Uint8Array(values.length);
    const scale = high > 0 ? 127.5 / high : 0;
    values.forEach((v, i) => { levels[i] = Math.max(0, Math.min(255, Math.round(127.5 + v * scale))); });
    return paintLevels(canvas, width, height, levels, diverging);
  }

  function paintLevels(canvas, width, height, levels, lut) {
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    const data = context.createImageData(width, height);
    levels.forEach((level, i) => {
      data.data[4 * i] = lut[3 * level];
      data.data[4 * i + 1] = lut[3 * level + 1];
      data.data[4 * i + 2] = lut[3 * level + 2];
      data.data[4 * i + 3] = 255;
    });
    context.putImageData(data, 0, 0);
    return canvas;
  }

  // The largest magnitude of some numbers: the half-width of a layer's colour scale.
  function magnitude(values) {
    let high = 0;
    for (const v of values) high = Math.max(high, Math.abs(v));
    return high;
  }

  // A colour bar for the scale -high..high: the gradient, 0 marked in its middle, and the
  // numbers at both ends; its label says the same in words.
  function colourBar(high, what) {
    const bar = element("div", "colour-bar");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `colour scale of ${what}: blue ${number(-high)}, white 0, ` +
                     `red ${number(high)}`);
    const ramp = element("canvas", "ramp");
    const levels = Array.from({length: 256}, (_, i) => (i - 127.5) / 127.5 * high);
    paintValues(ramp, 256, 1, levels, high);
    const labels = element("div", "bar-labels");
    labels.append(element("span", null, number(-high)), element("span", "zero", "0"),
                  element("span", null, number(high)));
    bar.append(ramp, element("span", "zero-tick"), labels);
    return bar;
  }

  // Black or white text, whichever contrasts more with a background [r, g, b] (one of them
  // always reaches 4.5:1, WCAG AA for small text).
  function textOn([r, g, b]) {
    const channel = c => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    const luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? "#000" : "#fff";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const percent = (fraction, digits = 1) => `${(100 * fraction).toFixed(digits)} %`;
  const number = value => Math.abs(value) >= 100 || value === 0 ? value.toFixed(0)
    : Math.abs(value) >= 0.01 ? value.toPrecision(3) : value.toExponential(1);

  return {COLOURS, getJSON, floats, paint, paintValues, magnitude, colourBar, textOn, element,
          percent, number};
})();
