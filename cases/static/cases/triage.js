// Triage: "select all" for the items on the page (no inline script: the CSP forbids it).
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (!all) return;
  const boxes = () => Array.from(document.querySelectorAll("input.item-select"));
  all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
  boxes().forEach((box) => box.addEventListener("change", () => {
    const list = boxes();
    all.checked = list.every((b) => b.checked);
    all.indeterminate = !all.checked && list.some((b) => b.checked);
  }));
});
