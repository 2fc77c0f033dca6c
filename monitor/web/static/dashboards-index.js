// The dashboards index: filter the list as the user types; "/" focuses the box.
"use strict";
(function () {
  const box = document.getElementById("search");
  const items = Array.from(document.querySelectorAll("#dashboards li"));
  box.addEventListener("input", () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const item of items) {
      const text = item.dataset.search || "";
      item.hidden = !words.every((w) => text.includes(w));
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== box) {
      event.preventDefault();
      box.focus();
    }
  });
})();
