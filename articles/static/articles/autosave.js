/* Autosave for the article change form. Every few seconds, when the text changed, and on
   leaving the page, the form's text fields go to the server as this editor's private autosave
   (never a revision, never public). Until the server confirms it has them they are also kept in
   localStorage, so a closed tab, a crash or a lost connection loses nothing; the next visit
   offers them back. A new article (no id yet) is kept in the browser only. */
(function () {
  "use strict";
  var config = document.getElementById("autosave");
  if (!config) return;
  var form = config.closest("form");
  var FIELDS = ["headline", "slug", "standfirst", "body", "body_format", "dateline", "source",
    "seo_title", "seo_description", "lead_image_alt", "lead_image_caption", "lead_image_credit",
    "workflow_note"];
  var EVERY_MS = window.NEWSDESK_AUTOSAVE_MS || 5000;  // tests make it shorter
  var url = config.dataset.url || "";
  var prefix = "newsdesk-autosave:" + config.dataset.user + ":";
  var key = prefix + config.dataset.key;
  var version = form.elements.namedItem("loaded_version");
  var csrf = form.elements.namedItem("csrfmiddlewaretoken");
  var status = document.getElementById("autosave-status");
  var serverSavedAt = config.dataset.savedAt ? Date.parse(config.dataset.savedAt) : 0;
  var ownVersion = parseInt(config.dataset.ownVersion || "0", 10);
  var submitting = false;
  var inflight = false;

  function fields() {
    return FIELDS.map(function (name) { return form.elements.namedItem(name); })
      .filter(function (el) { return el && el.name && !el.disabled; });
  }
  function values() {
    var data = {};
    fields().forEach(function (el) { data[el.name] = el.value; });
    return data;
  }
  function norm(value) { return String(value || "").replace(/\r\n/g, "\n").trim(); }
  function differing(copy, now) {  // the names whose typed text differs from the form's
    return Object.keys(copy).filter(function (name) {
      return name in now && norm(copy[name]) !== norm(now[name]);
    });
  }
  function readLocal(k) {
    try { return JSON.parse(localStorage.getItem(k)); } catch (e) { return null; }
  }
  function writeLocal() {
    try {
      localStorage.setItem(key, JSON.stringify(
        {v: version ? parseInt(version.value, 10) : null, t: Date.now(), d: values()}));
    } catch (e) { /* storage full or blocked: the server copy still works */ }
  }
  function dropLocal(k) {
    try { localStorage.removeItem(k || key); } catch (e) { /* nothing kept */ }
  }
  function say(text) { if (status) status.textContent = text; }
  function hhmm(date) { return date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}); }
  function when(ms) {
    var date = new Date(ms);
    if (date.toDateString() === new Date().toDateString()) return hhmm(date);
    return date.toLocaleDateString([], {day: "numeric", month: "short", year: "numeric"}) +
      ", " + hhmm(date);
  }
  function post(target, params) {
    params.set("csrfmiddlewaretoken", csrf.value);
    return fetch(target, {method: "POST", body: params, credentials: "same-origin",
      headers: {Accept: "application/json"}});
  }
  function params(data, base) {
    var p = new URLSearchParams(data);
    p.set("loaded_version", base);
    return p;
  }

  // What the server holds (or what the page was loaded with): sent again only when it changes.
  var lastSent = JSON.stringify(values());

  function save() {
    if (!url || submitting || inflight || !version) return;
    var data = values();
    var text = JSON.stringify(data);
    if (text === lastSent) return;
    inflight = true;
    post(url, params(data, version.value)).then(function (response) {
      lastSent = text;  // answered: a refusal is not retried until the text changes again
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) {
          say("Not autosaved: " + (json.error || "the server refused it") + ".");
          return;
        }
        confirmed = text;
        if (JSON.stringify(values()) === text) dropLocal();  // the server has all of it
        say("Saved " + hhmm(new Date(json.saved_at)));
      });
    }).catch(function () {
      say("Offline: your changes are kept in this browser until the connection is back.");
    }).finally(function () { inflight = false; });
  }

  function leave() {
    if (!url || submitting || !version) return;
    var data = values();
    var text = JSON.stringify(data);
    if (text === lastSent) return;
    lastSent = text;
    var body = params(data, version.value);
    body.set("csrfmiddlewaretoken", csrf.value);
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, body))) {
      fetch(url, {method: "POST", body: body, keepalive: true, credentials: "same-origin"})
        .catch(function () { /* the local copy stays */ });
    }
  }

  function labelOf(name) {
    var label = form.querySelector('label[for="id_' + name + '"]');
    return label ? label.textContent.replace(/:\s*$/, "").trim() : name;
  }

  // The browser's own copy, offered back when the server does not have it.
  function offer(copy, names) {
    var notice = document.createElement("section");
    notice.className = "desk-panel autosave-notice";
    notice.id = "autosave-local-notice";
    notice.setAttribute("aria-labelledby", "autosave-local-title");
    var heading = document.createElement("h2");
    heading.id = "autosave-local-title";
    heading.textContent = "Restore your unsaved changes from " + when(copy.t) + "?";
    var what = document.createElement("p");
    what.textContent = "Kept in this browser: " + names.map(labelOf).join(", ") + ".";
    notice.append(heading, what);
    if (copy.v && version && copy.v < parseInt(version.value, 10)) {
      var stale = document.createElement("p");
      stale.textContent = "The article was changed since; saving will show you both versions.";
      notice.append(stale);
    }
    var row = document.createElement("p");
    row.className = "workflow-row";
    var restore = document.createElement("button");
    restore.type = "button";
    restore.className = "button";
    restore.textContent = "Restore";
    var discard = restore.cloneNode();
    discard.textContent = "Discard";
    row.append(restore, " ", discard);
    notice.append(row);
    config.after(notice);
    restore.addEventListener("click", function () {
      fields().forEach(function (el) { if (el.name in copy.d) el.value = copy.d[el.name]; });
      if (copy.v && version) version.value = copy.v;  // a since-changed article shows the conflict
      notice.remove();
      writeLocal();
      lastSent = "";
      save();
      say("Restored your unsaved changes from " + when(copy.t) + ".");
      var first = form.elements.namedItem(names[0]);
      if (first) first.focus();
    });
    discard.addEventListener("click", function () {
      notice.remove();
      dropLocal();
      if (url) post(config.dataset.discardUrl, new URLSearchParams());
      say("Unsaved changes discarded.");
    });
  }

  // On load: drop local copies the server or a save already has; offer the others.
  var now = values();
  var local = readLocal(key);
  if (local && local.d) {
    var names = differing(local.d, now);
    if (!names.length || (local.v && local.v < ownVersion) ||
        (serverSavedAt && serverSavedAt >= local.t)) {
      dropLocal();
    } else {
      var serverNotice = document.getElementById("autosave-notice");
      if (serverNotice) serverNotice.remove();  // the browser's copy is newer
      offer(local, names);
      if (url && local.v) post(url, params(local.d, local.v)).catch(function () {});
    }
  }
  if (config.dataset.key !== "new") {
    // A new article's copy is saved once its change form shows the same text.
    var fresh = readLocal(prefix + "new");
    if (fresh && fresh.d && !differing(fresh.d, now).length) dropLocal(prefix + "new");
  }
  if (form.querySelector(".errornote, .errorlist")) {
    // The submit came back with errors: what it holds is not saved anywhere yet.
    writeLocal();
    lastSent = "";
  }
  // The text the server is known to hold: the page as loaded, then each autosave it accepted.
  var confirmed = lastSent;

  document.querySelectorAll("#autosave-notice time, .autosave-notice time").forEach(function (t) {
    t.textContent = when(Date.parse(t.getAttribute("datetime")));
  });
  var discardButton = document.getElementById("autosave-discard");
  if (discardButton) {
    discardButton.addEventListener("click", function () {
      post(config.dataset.discardUrl, new URLSearchParams()).then(function (response) {
        if (!response.ok) return;
        document.getElementById("autosave-notice").remove();
        dropLocal();
        say("Unsaved changes discarded.");
      });
    });
  }

  // A field's change event also fires when the tab closes with it focused, after the server has
  // the text: a local copy of what the server already holds would be offered over the server's.
  function typed(event) {
    if (!event.target.name || FIELDS.indexOf(event.target.name) < 0) return;
    if (JSON.stringify(values()) === confirmed) dropLocal();
    else writeLocal();
  }
  form.addEventListener("input", typed);
  form.addEventListener("change", typed);
  form.addEventListener("submit", function () { submitting = true; });
  setInterval(save, EVERY_MS);
  if (lastSent === "") save();
  window.addEventListener("pagehide", leave);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") leave();
  });
})();
