/* Behaviour every page may use, in a static file because the CSP allows no inline handlers:
 * <select data-submit-on-change> submits its form when the choice changes (the language menu), so
 * the form's own button, there for pages without JavaScript, is hidden (the "js" class, site.css). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-submit-on-change]") && field.form) field.form.submit();
  });
})();
