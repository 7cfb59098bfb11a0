/* Every visible text against the background it is drawn on (backgrounds composited from the
   root down, opacity included) must reach WCAG 2 AA: 4.5:1, or 3:1 for large text. Disabled
   controls are exempt (WCAG 1.4.3); text on a gradient cannot be judged this way and is
   skipped. Returns the failures. Run by tests/e2e/audit.py with page.evaluate(). */
() => {
  const parse = (value) => {
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1 });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const [h, l] = [lum(a), lum(b)].sort((x, y) => y - x); return (h + 0.05) / (l + 0.05); };
  const problems = [];
  for (const element of document.body.querySelectorAll("*")) {
    const text = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || !element.getClientRects().length) continue;
    if (element.closest("[aria-hidden=true], .visually-hidden, :disabled, .disabled, [aria-disabled=true], script, noscript")) continue;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden") continue;
    const chain = [];
    for (let e = element; e; e = e.parentElement) chain.unshift(e);
    let background = { r: 255, g: 255, b: 255, a: 1 };
    let gradient = false;
    let opacity = 1;
    for (const e of chain) {
      const s = getComputedStyle(e);
      if (s.backgroundImage.includes("gradient")) gradient = true;
      const bg = parse(s.backgroundColor);
      if (bg && bg.a > 0) background = over(bg, background);
      opacity *= Number(s.opacity);
    }
    if (gradient || opacity === 0) continue;
    const color = parse(style.color);
    color.a *= opacity;
    const shown = over(color, background);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const got = ratio(shown, background);
    if (got < needed) problems.push(`${got.toFixed(2)}:1 "${text.slice(0, 40)}" (${element.tagName.toLowerCase()}.${[...element.classList].join(".")})`);
  }
  return problems;
}
