// Shared by every page (core/templates/base.html). No inline scripts: the page policy forbids them.
(function () {
  "use strict";
  // An irreversible action asks first: <form data-confirm="Tandai sebagai alarm palsu?"> (the
  // server still decides; this only spares a slip of the mouse).
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    const question = form instanceof HTMLFormElement ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) ev.preventDefault();
  }, true);
})();
