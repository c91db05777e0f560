/* The edit form's live counters: headline length and body words with reading time. The server
   renders the first counts (admin/forms.py), so without this script they are merely not live. */
"use strict";
(function () {
  // The same words as models.count_words: "don't" and "well-known" count once.
  const WORD = /[\p{L}\p{N}_]+(?:['’-][\p{L}\p{N}_]+)*/gu;

  function update(output, field) {
    const number = output.querySelector(".desk-count-n");
    if (output.dataset.count === "chars") {
      number.textContent = field.value.length;
      output.classList.toggle("desk-count--long", field.value.length > Number(output.dataset.cut));
    } else {
      const words = (field.value.match(WORD) || []).length;
      number.textContent = words;
      output.querySelector(".desk-count-min").textContent = Math.max(
        1, Math.round(words / Number(output.dataset.wpm)));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("output.desk-count").forEach(function (output) {
      const field = document.getElementById(output.dataset.for);
      if (field) {
        field.addEventListener("input", function () { update(output, field); });
      }
    });
  });
})();
