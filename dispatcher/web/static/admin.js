// The admin UI's only script, and an optional one: every page works without it.
// Pages that show live figures (the dashboard) ask to be reloaded every few seconds.
document.addEventListener("DOMContentLoaded", () => {
  const every = Number(document.body.dataset.refreshSeconds || 0);
  if (every > 0) {
    setTimeout(() => { if (!document.hidden) window.location.reload(); }, every * 1000);
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
