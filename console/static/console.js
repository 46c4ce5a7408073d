// The supervisor console: actions through the REST API (with the session's CSRF token) and live
// wallboard updates over the WebSocket. No framework, no inline script (the CSP forbids it).
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const stringsEl = document.getElementById("strings");
  const S = stringsEl ? JSON.parse(stringsEl.textContent) : {};
  const flash = document.getElementById("flash");

  function say(text, bad) {
    if (!flash) return;
    flash.textContent = text;
    flash.className = bad ? "error" : "";
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      say((S["msg.failed"] || "Refused:") + " " + (data.error || response.status), true);
      throw new Error(data.error || String(response.status));
    }
    say(S["msg.done"] || "Done.", false);
    return data;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const dur = (s) => Math.floor(s / 60) + ":" + pad(Math.floor(s % 60));
  const pct = (v) => (v === null || v === undefined) ? "\u2013" : Math.round(v * 100) + "%";
  const show = {longest_wait: dur, service_level_today: pct};

  function renderWallboard(data) {
    const table = document.getElementById("wallboard");
    if (!table) return;
    for (const q of data.queues) {
      const row = table.querySelector('tr[data-queue="' + CSS.escape(q.queue) + '"]');
      if (!row) continue;
      row.classList.toggle("busy", q.waiting > 0);
      for (const cell of row.querySelectorAll("td[data-field]")) {
        const key = cell.dataset.field;
        cell.textContent = (show[key] || String)(q[key]);
      }
    }
    for (const cell of document.querySelectorAll("[data-total]")) {
      const key = cell.dataset.total;
      cell.textContent = (show[key] || String)(data.totals[key]);
    }
    const slNone = document.getElementById("sl-none");
    if (slNone) slNone.hidden = data.totals.service_level_today !== null;
    renderToday(data);
  }

  // Today's calls per interval: the offered and the answered bar of each interval with calls (as the page drew them).
  const SVG = "http://www.w3.org/2000/svg";
  function renderToday(data) {
    const box = document.getElementById("today");
    const group = document.getElementById("today-bars");
    if (!box || !group || !data.intervals) return;
    const midnight = Number(box.dataset.midnight), width = Number(box.dataset.width), height = Number(box.dataset.height);
    const minutes = data.interval_minutes, slots = 24 * 60 / minutes, step = width / slots;
    const top = Math.max(0, ...data.intervals.map((i) => i.offered));
    group.replaceChildren();
    let drawn = 0;
    for (const i of data.intervals) {
      const slot = Math.floor((i.start - midnight) / (minutes * 60));
      if (slot < 0 || slot >= slots || !i.offered) continue;
      const w = step / 2 - 0.5, g = document.createElementNS(SVG, "g");
      g.dataset.slot = String(slot);
      const title = document.createElementNS(SVG, "title");
      const clock = pad(Math.floor(slot * minutes / 60)) + ":" + pad(slot * minutes % 60);
      title.textContent = clock + " \u00b7 " + (S["wb.offered"] || "offered") + " " + i.offered + " \u00b7 " +
        (S["wb.answered"] || "answered") + " " + i.answered + " \u00b7 " + pct(i.answered ? i.answered_within / i.answered : null);
      g.appendChild(title);
      for (const [kind, value, x] of [["offered", i.offered, slot * step], ["answered", i.answered, slot * step + w]]) {
        const h = height * value / top, rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("class", kind);
        rect.setAttribute("x", String(x));
        rect.setAttribute("y", String(height - h));
        rect.setAttribute("width", String(w));
        rect.setAttribute("height", String(h));
        g.appendChild(rect);
      }
      group.appendChild(g);
      drawn += 1;
    }
    const none = document.getElementById("today-none");
    if (none) none.hidden = drawn > 0;
  }

  const labelsEl = document.getElementById("queue-labels");
  const QUEUES = labelsEl ? JSON.parse(labelsEl.textContent) : {};
  const queueLabel = (q) => QUEUES[q] || q;

  function renderAgents(agents) {
    for (const [pid, a] of Object.entries(agents || {})) {
      const cell = document.querySelector('[data-agent-state="' + CSS.escape(pid) + '"]');
      if (cell) {
        cell.dataset.state = a.state;
        cell.textContent = (S["state." + a.state] || a.state) + (a.pause_reason ? " (" + a.pause_reason + ")" : "");
      }
      const queues = document.querySelector('[data-agent-queues="' + CSS.escape(pid) + '"] small');
      if (queues) queues.textContent = a.queues_now.map(queueLabel).join(", ");
    }
  }

  // The campaigns' emergency alerts: a banner on the wallboard until a supervisor acknowledges it.
  function renderAlerts(alerts) {
    const box = document.getElementById("wb-alerts");
    if (!box || !Array.isArray(alerts)) return;
    const can = document.body.dataset.role === "supervisor";
    box.replaceChildren();
    for (const a of alerts) {
      const p = document.createElement("p");
      p.className = "alert";
      p.dataset.alert = String(a.id);
      const strong = document.createElement("strong");
      strong.textContent = S["wb.alert"] || "Emergency";
      const name = document.createElement("bdi");
      name.textContent = a.name;
      const number = document.createElement("bdi");
      number.dir = "ltr";
      number.textContent = a.number;
      const campaign = document.createElement("bdi");
      campaign.textContent = a.campaign;
      p.append(strong, " ", name, " (", number, ") " + (S["wb.alert_pressed"] || "") + " \u00b7 ", campaign);
      if (can) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.act = "alert-ack";
        button.dataset.id = String(a.id);
        button.textContent = S["wb.alert_ack"] || "Acknowledge";
        p.append(" ", button);
      }
      box.appendChild(p);
    }
    box.hidden = alerts.length === 0;
  }

  function connect() {
    const live = document.getElementById("live");
    if (!live) return;
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/live");
    ws.onopen = () => { live.textContent = S["live.connected"] || "live"; live.classList.remove("off"); };
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type !== "snapshot") return;
      renderWallboard(data);
      renderAgents(data.agents);
      renderAlerts(data.alerts);
      document.body.dataset.pushes = String(Number(document.body.dataset.pushes || 0) + 1);
    };
    ws.onclose = () => {
      live.textContent = S["live.disconnected"] || "reconnecting…";
      live.classList.add("off");
      setTimeout(connect, 1000);
    };
  }

  async function act(button) {
    const kind = button.dataset.act;
    button.disabled = true;
    try {
      if (kind === "agent") {
        const p = encodeURIComponent(button.dataset.person);
        await api("POST", "/api/v1/agents/" + p + "/" + button.dataset.action,
                  button.dataset.action === "pause" ? {reason: "supervisor"} : undefined);
      } else if (kind === "ear") {
        // listen to, whisper to or barge into the person's live call: the service rings your own phone
        const calls = await (await fetch("/api/v1/calls/live", {credentials: "same-origin"})).json();
        const call = (Array.isArray(calls) ? calls : []).find((c) => c.person === button.dataset.person);
        if (!call) { say(S["msg.no_call"], true); return; }
        await api("POST", "/api/v1/calls/" + encodeURIComponent(call.call) + "/ear", {mode: button.dataset.mode});
        say(S["msg.ringing"], false);
      } else if (kind === "skills") {
        const form = document.querySelector('form[data-skills-for="' + CSS.escape(button.dataset.person) + '"]');
        const picked = (name) => Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map((i) => i.value);
        await api("PUT", "/api/v1/agents/" + encodeURIComponent(button.dataset.person) + "/skills",
                  {topics: picked("topics"), specialties: picked("specialties")});
      } else if (kind === "seats") {
        const input = document.querySelector('input[data-seats-for="' + CSS.escape(button.dataset.queue) + '"]');
        await api("PUT", "/api/v1/queues/" + encodeURIComponent(button.dataset.queue) + "/seats",
                  {seats: Number(input.value)});
      } else if (kind === "alert-ack") {
        await api("POST", "/api/v1/campaign-alerts/" + encodeURIComponent(button.dataset.id) + "/acknowledge");
        for (const el of document.querySelectorAll('[data-alert="' + CSS.escape(button.dataset.id) + '"]')) el.remove();
        const box = document.getElementById("wb-alerts");
        if (box && !box.querySelector(".alert")) box.hidden = true;
      } else if (kind === "callback") {
        const id = button.dataset.id;
        let body;
        if (button.dataset.action === "reschedule") {
          const input = document.querySelector('input[data-at-for="' + CSS.escape(id) + '"]');
          if (!input.value) { say(S["msg.failed"] + " ?", true); return; }
          body = {at: new Date(input.value).toISOString()};
        }
        await api("POST", "/api/v1/callbacks/" + encodeURIComponent(id) + "/" + button.dataset.action, body);
        setTimeout(() => location.reload(), 300);
      }
    } catch (e) {
      // the message is shown by api()
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (button) act(button);
  });
  // A contact list imported from a CSV file (the campaigns page): all or nothing, each bad line shown.
  const importForm = document.getElementById("import-form");
  if (importForm) {
    importForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = document.getElementById("import-file").files[0];
      const list = document.getElementById("import-list").value;
      const done = document.getElementById("import-done"), refused = document.getElementById("import-refused");
      done.hidden = true;
      refused.hidden = true;
      if (!file) return;
      const submit = document.getElementById("import-submit");
      submit.disabled = true;
      try {
        const response = await fetch("/api/v1/contact-lists/" + encodeURIComponent(list) + "?filename=" +
                                     encodeURIComponent(file.name), {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "text/csv", "X-CSRF-Token": csrf}, body: file,
        });
        let data = {};
        try { data = await response.json(); } catch (e) { data = {}; }
        if (response.status === 422 && Array.isArray(data.errors)) {
          const body = document.querySelector("#import-errors tbody");
          body.replaceChildren();
          for (const e of data.errors) {
            const row = document.createElement("tr");
            row.dataset.line = String(e.line);
            for (const text of [String(e.line), e.reason]) {
              const td = document.createElement("td");
              td.textContent = text;
              row.appendChild(td);
            }
            body.appendChild(row);
          }
          refused.hidden = false;
          say((S["msg.failed"] || "Refused:") + " " + (data.error || ""), true);
        } else if (!response.ok) {
          say((S["msg.failed"] || "Refused:") + " " + (data.error || response.status), true);
        } else {
          done.textContent = (data.unchanged ? S["camp.import_unchanged"] : S["camp.import_done"]) + " " +
            data.rows + " \u00b7 +" + data.added + " ~" + data.updated + " \u2212" + data.removed;
          done.hidden = false;
          say(S["msg.done"] || "Done.", false);
          const cell = document.querySelector('tr[data-list="' + CSS.escape(list) + '"] [data-field="contacts"]');
          if (cell) cell.textContent = String(data.rows);
        }
      } finally {
        submit.disabled = false;
      }
    });
  }
  const switcher = document.getElementById("lang-switch");
  if (switcher) {
    switcher.addEventListener("click", async () => {
      try {
        await api("PUT", "/api/v1/me/language", {language: switcher.dataset.lang});
        location.reload();
      } catch (e) { /* shown */ }
    });
  }
  for (const el of document.querySelectorAll("time[data-utc]")) {
    const when = new Date(el.dataset.utc);
    if (!isNaN(when)) el.textContent = when.toLocaleString(document.documentElement.lang);
  }
  connect();
})();
