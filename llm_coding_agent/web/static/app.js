// llm code web: the start form, and a session's live view from its Server-Sent Events.
// No framework and no build step. Every POST carries the CSRF token of the page's <meta>.
"use strict";

const csrf = document.querySelector("meta[name=csrf-token]").content;

function flash(message) {
  const box = document.getElementById("flash");
  box.textContent = message || "";
  box.classList.toggle("shown", Boolean(message));
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: await response.text()}; }
  if (!response.ok) {
    flash(data.error || `request failed (${response.status})`);
    throw new Error(data.error || response.status);
  }
  flash("");
  return data;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// -- the start form -------------------------------------------------------------------------------

function setUpStartForm() {
  const form = document.getElementById("start-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("start");
    button.disabled = true;
    try {
      const data = await post("/start", {
        directory: document.getElementById("directory").value,
        model: document.getElementById("model").value,
        task: document.getElementById("task").value,
        plan: document.getElementById("plan").checked,
      });
      window.location.href = data.url;
    } catch (e) {
      button.disabled = false;
    }
  });
}

// -- a session ------------------------------------------------------------------------------------

class SessionView {
  constructor(root) {
    this.id = root.dataset.session;
    this.log = document.getElementById("log");
    this.approvals = document.getElementById("approvals");
    this.todos = document.getElementById("todos");
    this.state = "idle";
    this.answer = null; // the model's answer being streamed into
    this.setUpForms();
    this.source = new EventSource(`/session/${encodeURIComponent(this.id)}/events`);
    this.source.onmessage = (message) => this.handle(JSON.parse(message.data));
    this.source.onerror = () => {
      if (this.source.readyState === EventSource.CLOSED) {
        flash("the server stopped; start llm code web again and open the new address");
      }
    };
  }

  url(action) { return `/session/${encodeURIComponent(this.id)}/${action}`; }

  setUpForms() {
    document.getElementById("message-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = document.getElementById("message");
      if (!box.value.trim()) return;
      await post(this.url("message"), {text: box.value});
      box.value = "";
    });
    document.getElementById("undo").addEventListener("click", () => post(this.url("undo"), {}));
    document.getElementById("toggle-view").addEventListener("click", (event) => {
      const split = document.body.classList.toggle("split-diffs");
      event.target.textContent = split ? "unified" : "side by side";
    });
  }

  append(node) {
    this.log.appendChild(node);
    node.scrollIntoView({block: "nearest"});
    return node;
  }

  handle(event) {
    const handler = this["on_" + event.kind];
    if (handler) handler.call(this, event);
    if (event.kind !== "text") this.answer = null;
  }

  on_request(event) { this.append(el("div", "request", event.text)); }

  on_text(event) {
    if (!this.answer) this.answer = this.append(el("div", "answer", ""));
    this.answer.textContent += event.text;
  }

  on_notice(event) { this.append(el("div", "notice", event.text)); }

  on_error(event) { this.append(el("div", "error", event.text)); }

  on_tool_start(event) {
    const line = this.append(el("div", "tool running"));
    line.dataset.call = event.id || "";
    line.appendChild(el("span", "line", "⋯ " + event.line));
  }

  on_tool(event) {
    let line = [...this.log.querySelectorAll(".tool.running")].find((n) => n.dataset.call === (event.id || ""));
    if (!line) line = this.append(el("div", "tool"));
    line.className = "tool " + (event.ok ? "ok" : "failed");
    line.textContent = "";
    line.appendChild(el("span", "line", (event.ok ? "✓ " : "✗ ") + event.line));
    line.appendChild(el("span", "summary", event.summary));
    if (event.diff_html) {
      const diff = el("div", "diff-box");
      diff.innerHTML = event.diff_html; // rendered and escaped by the server
      line.appendChild(diff);
    } else if (event.output && event.output !== event.summary) {
      const details = el("details");
      details.appendChild(el("summary", null, "output"));
      details.appendChild(el("pre", null, event.output));
      line.appendChild(details);
    }
  }

  on_todos(event) {
    this.todos.textContent = "";
    if (!event.items.length) this.todos.appendChild(el("li", "muted", "none"));
    for (const item of event.items) this.todos.appendChild(el("li", item.status, item.step));
  }

  on_state(event) {
    this.state = event.state;
    const badge = document.getElementById("state");
    badge.textContent = "";
    badge.appendChild(el("span", "badge " + event.state, event.state));
    if (event.state !== "waiting") this.approvals.textContent = "";
    document.getElementById("send").disabled = event.state !== "idle";
    document.getElementById("undo").disabled = event.state !== "idle";
  }

  on_pending(event) {
    this.approvals.textContent = "";
    if (event.calls.length) this.approvals.appendChild(el("h2", null, "Waiting for your answer"));
    for (const call of event.calls) this.approvals.appendChild(this.callCard(call));
    if (event.plan) this.approvals.appendChild(this.planCard(event.plan));
  }

  on_answered(event) {
    const card = this.approvals.querySelector(`[data-call="${CSS.escape(event.id)}"]`);
    if (card) this.markAnswered(card, event.answer, event.reason);
  }

  markAnswered(card, answer, reason) {
    card.classList.add("answered");
    card.querySelectorAll("button, input, textarea").forEach((n) => { n.disabled = true; });
    const note = card.querySelector(".answer-note") || card.appendChild(el("p", "answer-note"));
    note.textContent = answer === "decline" ? "declined" + (reason ? `: ${reason}` : "") : answer + "d";
  }

  callCard(call) {
    const card = el("div", "card approval" + (call.destructive ? " destructive" : ""));
    card.dataset.call = call.id;
    card.appendChild(el("h3", null, call.title));
    card.appendChild(el("p", "verdict", call.reason));
    if (call.diff_html) {
      const diff = el("div", "diff-box");
      diff.innerHTML = call.diff_html; // rendered and escaped by the server
      card.appendChild(diff);
    } else {
      card.appendChild(el("pre", "preview", call.preview));
    }
    const buttons = el("div", "buttons");
    const approve = el("button", "approve", "Approve");
    approve.addEventListener("click", () => this.send(card, call.id, "approve"));
    buttons.appendChild(approve);
    if (call.always) {
      const always = el("button", "always secondary", "Approve always");
      always.title = "allow " + call.always;
      always.addEventListener("click", () => this.send(card, call.id, "always"));
      buttons.appendChild(always);
    }
    const reason = el("input", "reason");
    reason.placeholder = "reason (told to the model)";
    const decline = el("button", "decline danger", "Decline");
    decline.addEventListener("click", () => this.send(card, call.id, "decline", reason.value));
    buttons.append(reason, decline);
    card.appendChild(buttons);
    if (call.always) card.appendChild(el("p", "muted", "Approve always: " + call.always));
    if (call.answered) this.markAnswered(card, call.answered, "");
    return card;
  }

  planCard(plan) {
    const card = el("div", "card approval plan");
    card.dataset.call = "plan";
    card.appendChild(el("h3", null, "The plan"));
    const steps = el("ol");
    for (const step of plan.steps) steps.appendChild(el("li", null, step));
    card.appendChild(steps);
    for (const question of plan.questions) card.appendChild(el("p", "question", question));
    const feedback = el("textarea", "feedback");
    feedback.placeholder = "what to change (for Revise)";
    const buttons = el("div", "buttons");
    for (const [answer, label, css] of [["approve", "Carry it out", "approve"], ["revise", "Revise", "secondary"], ["reject", "Reject", "danger"]]) {
      const button = el("button", css, label);
      button.addEventListener("click", () => post(this.url("plan"), {answer, feedback: feedback.value}));
      buttons.appendChild(button);
    }
    card.append(feedback, buttons);
    return card;
  }

  async send(card, id, answer, reason) {
    card.querySelectorAll("button").forEach((n) => { n.disabled = true; });
    try {
      await post(this.url("answer"), {id, answer, reason: reason || ""});
    } catch (e) {
      card.querySelectorAll("button").forEach((n) => { n.disabled = false; });
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpStartForm();
  const session = document.getElementById("session");
  if (session) window.sessionView = new SessionView(session);
});
