// Renders the math that pymdownx.arithmatex marks (class "arithmatex": \( \) inline, \[ \]
// display) with the vendored KaTeX, on every page Material shows (document$ fires on each,
// instant navigation included). Only those elements: a stray "\(" in prose stays text.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
    });
  }
});
