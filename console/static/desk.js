// The agent's desk: the screen pop over the desk's WebSocket, a case opened or a call added to one,
// and the wrap-up code, all through the desk's JSON routes with the session's CSRF token.
// No framework, no inline script (the CSP forbids it).
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const stringsEl = document.getElementById("desk-strings");
  const S = stringsEl ? JSON.parse(stringsEl.textContent) : {};
  const flash = document.getElementById("flash");
  const $ = (id) => document.getElementById(id);
  let current = null; // the call shown

  function say(text, bad) {
    if (!flash) return;
    flash.textContent = text;
    flash.className = bad ? "error" : "";
  }

  async function post(url, body, method) {
    const response = await fetch(url, {
      method: method || "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      say((S.failed || "Refused:") + " " + (data.error || response.status), true);
      throw new Error(data.error || String(response.status));
    }
    say("", false);
    return data;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function showCall(call) {
    if (!call) return;
    const fresh = !current || current.linkedid !== call.linkedid;
    current = call;
    $("waiting").hidden = true;
    $("pop").hidden = false;
    $("pop").dataset.linkedid = call.linkedid;
    $("pop-number").textContent = call.caller_number || S["caller.unknown"] || "";
    $("pop-name").textContent = call.caller_name && call.caller_name !== call.caller_number ? call.caller_name : "";
    $("pop-language").textContent = call.language_label;
    $("pop-language").dataset.code = call.language;
    $("pop-topic").textContent = call.topic_label;
    $("pop-topic").dataset.topic = call.topic;
    $("pop-path").textContent = call.path.join(" \u203a ") + (call.routed ? "" : " (" + (S["path.fallback"] || "") + ")");
    $("pop-state").textContent = call.ended ? S["call.ended"] : S["call.on"];
    $("pop-state").dataset.ended = String(call.ended);
    renderCodes(call);
    if (fresh) {
      const added = $("conference-added");
      if (added) added.hidden = true;
      const category = $("case-category");
      if (category && call.topic) category.value = call.topic;
      const created = $("case-created");
      if (created) created.hidden = true;
      const description = $("case-description");
      if (description) description.value = "";
      for (const id of ["earlier", "open-cases"]) {
        const body = document.querySelector("#" + id + " tbody");
        if (body) body.textContent = "";
      }
    }
  }

  function renderCodes(call) {
    const box = $("wrapup-codes");
    box.textContent = "";
    $("wrapup-none").hidden = call.dispositions.length > 0;
    for (const d of call.dispositions) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.code = d.id;
      button.textContent = d.code + " \u00b7 " + d.label;
      if (d.id === call.wrapup_code) button.classList.add("chosen");
      button.addEventListener("click", () => chooseCode(d, button));
      box.appendChild(button);
    }
    const chosen = call.dispositions.find((d) => d.id === call.wrapup_code);
    $("wrapup-chosen").hidden = !chosen;
    $("wrapup-label").textContent = chosen ? chosen.label : "";
    $("wrapup-chosen").dataset.code = call.wrapup_code || "";
  }

  function showHistory(history) {
    if (!history || !current || history.linkedid !== current.linkedid) return;
    const earlier = document.querySelector("#earlier tbody");
    earlier.textContent = "";
    for (const c of history.calls) {
      const row = document.createElement("tr");
      row.dataset.linkedid = c.linkedid;
      for (const text of [c.when, c.topic_label, c.outcome, c.agent, c.wrapup_code]) cell(row, text);
      earlier.appendChild(row);
    }
    $("earlier-none").hidden = history.calls.length > 0;
    const cases = document.querySelector("#open-cases tbody");
    if (!cases) return;
    cases.textContent = "";
    for (const c of history.cases) {
      const row = document.createElement("tr");
      row.dataset.case = c.number;
      for (const text of [c.number, c.category_label, c.status_label, c.opened]) cell(row, text);
      const action = cell(row, "");
      if (c.linked.indexOf(current.linkedid) < 0) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link-call";
        button.dataset.case = c.number;
        button.textContent = S["case.link"] || "Add this call";
        button.addEventListener("click", () => linkCall(c.number, button));
        action.appendChild(button);
      } else {
        action.textContent = "\u2713";
      }
      cases.appendChild(row);
    }
    $("cases-none").hidden = history.cases.length > 0;
    document.body.dataset.history = history.linkedid;
  }

  async function chooseCode(disposition, button) {
    if (!current) return;
    button.disabled = true;
    try {
      const done = await post("/desk/wrapup", {linkedid: current.linkedid, code: disposition.id});
      current.wrapup_code = done.code;
      renderCodes(current);
    } catch (e) { /* shown */ } finally { button.disabled = false; }
  }

  async function linkCall(number, button) {
    if (!current) return;
    button.disabled = true;
    try {
      await post("/desk/link", {linkedid: current.linkedid, number: number});
      const row = button.closest("tr");
      button.replaceWith(document.createTextNode("\u2713"));
      if (row) row.dataset.linked = "yes";
      say((S.linked || "Call added to case") + " " + number, false);
    } catch (e) { button.disabled = false; }
  }

  // Add to call: one of the profile's destinations joins the call (a three-way call on ConfBridge).
  for (const button of document.querySelectorAll("#conference-destinations button")) {
    button.addEventListener("click", async () => {
      if (!current) return;
      button.disabled = true;
      try {
        const done = await post("/desk/conference", {linkedid: current.linkedid, destination: button.dataset.destination});
        $("conference-label").textContent = done.label;
        $("conference-added").hidden = false;
        $("conference-added").dataset.destination = done.destination;
      } catch (e) { /* shown */ } finally { button.disabled = false; }
    });
  }

  const form = $("new-case");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!current) return;
      const submit = $("case-submit");
      submit.disabled = true;
      try {
        const body = {
          linkedid: current.linkedid,
          category: $("case-category").value,
          description: $("case-description").value,
        };
        if ($("case-district").value) body.district = $("case-district").value;
        if ($("case-location").value.trim()) body.location = $("case-location").value.trim();
        const made = await post("/desk/case", body);
        $("case-number").textContent = made.number;
        $("case-created").hidden = false;
        $("case-created").dataset.number = made.number;
      } catch (e) { /* shown */ } finally { submit.disabled = false; }
    });
  }

  function connect() {
    const live = $("live");
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/desk/live");
    ws.onopen = () => { live.textContent = S["live.connected"] || "live"; live.classList.remove("off"); };
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "state") {
        showCall(data.call);
        showHistory(data.history);
      } else if (data.type === "call") {
        showCall(data.call);
      } else if (data.type === "history") {
        showHistory(data);
      }
      document.body.dataset.pushes = String(Number(document.body.dataset.pushes || 0) + 1);
    };
    ws.onclose = () => {
      live.textContent = S["live.disconnected"] || "reconnecting…";
      live.classList.add("off");
      setTimeout(connect, 1000);
    };
  }

  // Click to call: the agent's phone rings first, then the number (POST /api/v1/desk/dial); a refusal says why.
  async function dial(number, contactId, button) {
    if (button) button.disabled = true;
    $("dial-result").textContent = "";
    $("dial-result").className = "";
    try {
      const body = {number: number};
      if (contactId) body.contact_id = contactId;
      await post("/api/v1/desk/dial", body);
      $("dial-result").textContent = S["dial.ringing"] || "";
      $("dial-result").className = "done";
    } catch (e) {
      $("dial-result").textContent = (S.failed || "Refused:") + " " + e.message;
      $("dial-result").className = "error";
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function loadContacts() {
    const table = $("dial-contacts");
    if (!table) return;
    const q = ($("dial-search") || {}).value || "";
    let contacts = [];
    try {
      const response = await fetch("/api/v1/desk/contacts?q=" + encodeURIComponent(q), {credentials: "same-origin"});
      contacts = response.ok ? await response.json() : [];
    } catch (e) { contacts = []; }
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const c of contacts) {
      const row = document.createElement("tr");
      row.dataset.number = c.number;
      row.dataset.contact = String(c.contact_id);
      const name = cell(row, "");
      const bdi = document.createElement("bdi");
      bdi.textContent = c.name;
      name.appendChild(bdi);
      cell(row, c.number).dir = "ltr";
      cell(row, c.district || "");
      const action = cell(row, "");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "call";
      button.textContent = S["dial.call"] || "Call";
      button.addEventListener("click", () => dial(c.number, c.contact_id, button));
      action.appendChild(button);
      body.appendChild(row);
    }
    if ($("dial-none")) $("dial-none").hidden = contacts.length > 0;
    table.dataset.loaded = String(Number(table.dataset.loaded || 0) + 1);
  }

  const dialForm = $("dial-form");
  if (dialForm) {
    dialForm.addEventListener("submit", (event) => {
      event.preventDefault();
      dial($("dial-number").value, null, $("dial-submit"));
    });
  }
  const search = $("dial-search");
  if (search) {
    let timer = null;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(loadContacts, 250); });
  }
  loadContacts();

  const switcher = $("lang-switch");
  if (switcher) {
    switcher.addEventListener("click", async () => {
      try {
        await post("/api/v1/me/language", {language: switcher.dataset.lang}, "PUT");
        location.reload();
      } catch (e) { /* shown */ }
    });
  }
  connect();
})();
