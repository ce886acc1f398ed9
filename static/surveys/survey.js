// Progressive enhancement for the public survey page; it works fully without this.
document.documentElement.classList.replace("no-js", "js");

document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-survey]");
  if (!form) return;

  // A follow-up question shows only when the score it follows is at or below its
  // threshold. Hidden ones are disabled so they are not sent (the server ignores
  // them anyway).
  const followUps = form.querySelectorAll("[data-follow-up-of]");
  const update = () => {
    followUps.forEach((group) => {
      const parent = form.querySelector(`input[name="${group.dataset.followUpOf}"]:checked`);
      const show = parent !== null && Number(parent.value) <= Number(group.dataset.threshold);
      group.hidden = !show;
      group.querySelectorAll("input, select, textarea").forEach((field) => {
        field.disabled = !show;
      });
    });
  };
  if (followUps.length) {
    form.addEventListener("change", update);
    update();
  }

  // After a refused submission, take keyboard and screen-reader users to the summary.
  const errors = document.getElementById("survey-errors");
  if (errors) errors.focus();
});
