// What every page uses: the API, images sent as base64 grey levels, colour maps, numbers.
"use strict";

const lenet = (() => {
  // Viridis, sampled at ten points (matplotlib's default map): dark blue low, yellow high.
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  const viridis = new Uint8Array(256 * 3);
  for (let level = 0; level < 256; level++) {
    const t = level / 255 * (VIRIDIS.length - 1), i = Math.min(Math.floor(t), VIRIDIS.length - 2);
    for (let c = 0; c < 3; c++) {
      viridis[3 * level + c] = Math.round(VIRIDIS[i][c] + (t - i) * (VIRIDIS[i + 1][c] - VIRIDIS[i][c]));
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

  function pixels(image) {
    const bytes = atob(image.pixels);
    const levels = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) levels[i] = bytes.charCodeAt(i);
    return levels;
  }

  // Paint an API image ({width, height, pixels}) into a canvas, one canvas pixel per pixel.
  function paint(canvas, image, map = "grey") {
    return paintLevels(canvas, image.width, image.height, pixels(image), map);
  }

  // Paint grey levels 0..255 (row by row) through a colour map.
  function paintLevels(canvas, width, height, levels, map) {
    const lut = map === "viridis" ? viridis : grey;
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

  // Paint values (numbers) as a one-row strip, on the scale low..high.
  function paintStrip(canvas, values, low, high) {
    const span = high > low ? high - low : 1;
    const levels = values.map(v => Math.round(255 * (v - low) / span));
    return paintLevels(canvas, values.length, 1, levels, "viridis");
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

  // Mark the current page in the navigation bar.
  document.addEventListener("DOMContentLoaded", () => {
    const here = location.pathname;
    for (const link of document.querySelectorAll(".topbar nav a")) {
      if (link.getAttribute("href") === here) link.classList.add("current");
    }
  });

  return {COLOURS, getJSON, paint, paintStrip, element, percent, number};
})();
