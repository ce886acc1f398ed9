// Small progressive enhancements; every page works without them.
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});

// The queue's select-all box: shown only when this script runs, as it needs it.
document.querySelectorAll("[data-select-all]").forEach((box) => {
  const boxes = () =>
    box.form.querySelectorAll(`input[type=checkbox][name="${box.dataset.selectAll}"]`);
  box.hidden = false;
  box.addEventListener("change", () => {
    boxes().forEach((item) => {
      item.checked = box.checked;
    });
  });
  box.form.addEventListener("change", (event) => {
    if (event.target === box || event.target.name !== box.dataset.selectAll) return;
    const all = Array.from(boxes());
    box.checked = all.length > 0 && all.every((item) => item.checked);
    box.indeterminate = !box.checked && all.some((item) => item.checked);
  });
});

// The ticket page's "Insert canned reply": put the chosen reply (already filled in by
// the server, on the option) at the cursor, keeping what the agent typed. Without this
// script the form reloads the page with ?canned=<id> and the reply prefilled.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-canned-insert]");
  if (!form) return;
  const option = form.elements.canned && form.elements.canned.selectedOptions[0];
  const reply = document.getElementById(form.dataset.cannedInsert);
  if (!option || option.dataset.text === undefined || !reply) return;
  event.preventDefault();
  const start = reply.selectionStart ?? reply.value.length;
  const end = reply.selectionEnd ?? start;
  reply.setRangeText(option.dataset.text, start, end, "end");
  reply.focus();
});
