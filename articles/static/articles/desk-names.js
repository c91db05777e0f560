/* Accessible names for the controls Django's admin and select2 draw without one: the
   autocomplete comboboxes and their search boxes take their field's label, and the tabular
   inline's empty header cell gets a hidden caption. Checked by axe-core in the browser tests. */
(function () {
  "use strict";
  function labelFor(select) {
    var own = select.getAttribute("aria-label");
    var label = select.id && document.querySelector('label[for="' + select.id + '"]');
    return (own || (label ? label.textContent : "") || select.name).trim().replace(/:$/, "");
  }
  function nameControls() {
    document.querySelectorAll("span.select2-container").forEach(function (box) {
      var select = box.previousElementSibling;
      if (!select || select.tagName !== "SELECT") return;
      var named = '[role="combobox"], [role="textbox"], .select2-search__field';
      box.querySelectorAll(named).forEach(function (el) {
        el.removeAttribute("aria-labelledby");
        el.setAttribute("aria-label", labelFor(select));
      });
    });
    document.querySelectorAll("th.original:empty").forEach(function (th) {
      th.innerHTML = '<span class="visually-hidden">Saved row</span>';
    });
  }
  function soon() { setTimeout(nameControls, 0); }
  var $ = window.django && window.django.jQuery;
  if ($) {
    $(soon); // after the admin's own ready handlers have drawn select2
    $(document).on("select2:close select2:select", soon);
  }
  window.addEventListener("load", soon);
  document.addEventListener("formset:added", soon);
})();
