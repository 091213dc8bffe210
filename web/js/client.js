// The browser's Switchboard websocket client (subprotocol switchboard.v1.json), shared by
// the widget, the link page and the staff console.
//
// - Reconnects with jittered exponential backoff and resumes every joined conversation
//   with `after_seq` (the highest seq it has seen), so nothing is missed or repeated.
// - Keeps an outbox of messages not yet acknowledged: what is sent while offline, or
//   whose ack was lost with the connection, is sent again after the rejoin. Resends use
//   the same client_msg_id, which the server makes idempotent: never a second message.
// - Flattens `batch` frames; drops a `message` whose seq it has already seen, unless it is
//   an edit or delete of that message (`edited_at` set or `deleted`), which replaces it.
// - Detects dead connections with application pings (browsers cannot see websocket
//   pings).
//
// Events (CustomEvent, `detail` is the frame unless noted): status ({state}), welcome,
// message, ack, history_end, typing, presence, receipt, conversation, error, pong,
// send_failed ({clientMsgId, conversation, code, message}), fatal ({code, reason}).

export const SUBPROTOCOL = "switchboard.v1.json";

// Close codes from docs/protocol.md.
const CLOSE_POLICY = 1008;
const CLOSE_TOKEN_EXPIRED = 4001;
const CLOSE_TOO_SLOW = 4008;
const CLOSE_RATE_LIMITED = 4029;
// Errors after which a resend may succeed; any other error on a send is final.
const RETRYABLE = new Set(["internal", "unavailable", "rate_limited"]);
// Waiting longer than this for the socket to open and say welcome counts as a failure.
const CONNECT_TIMEOUT_MS = 10_000;
// A pong (or any frame) must arrive this long after a ping, or the socket is presumed dead.
const PONG_TIMEOUT_MS = 10_000;

/** The /ws URL of the server that served `base` (http -> ws, https -> wss). */
export function websocketUrl(base = location.href) {
  const url = new URL("/ws", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/** An edited or deleted message: it replaces the one with its seq (docs/protocol.md). */
export function isReplacement(frame) {
  return frame.deleted === true || (frame.edited_at !== null && frame.edited_at !== undefined);
}

export function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "c" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class SwitchboardClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url websocket URL (see websocketUrl)
   * @param {string} options.token attendee/API token; "" to use the console session cookie
   * @param {boolean} [options.inbox] staff: receive live inbox `conversation` frames
   * @param {string} [options.clientName] sent in hello, for server logs
   * @param {number} [options.backoffBaseMs] first reconnect delay (before jitter)
   * @param {number} [options.backoffMaxMs] longest reconnect delay
   */
  constructor({ url, token, inbox = false, clientName = "web", backoffBaseMs = 500, backoffMaxMs = 8000 }) {
    super();
    this.url = url;
    this.token = token;
    this.inbox = inbox;
    this.clientName = clientName;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.state = "idle";
    this.identity = null;
    this.welcome = null;
    this.ws = null;
    this.attempt = 0;
    this.everConnected = false;
    this.stopped = false;
    /** conversation -> {lastSeq, live, pendingRead} */
    this.conversations = new Map();
    /** client_msg_id -> send frame, in the order they were sent */
    this.outbox = new Map();
    this._timers = { reconnect: null, connect: null, ping: null, pong: null };
    this._onOnline = () => this.reconnectNow();
    window.addEventListener("online", this._onOnline);
  }

  // -- lifecycle --------------------------------------------------------------------------

  start() {
    this.stopped = false;
    this._connect();
    return this;
  }

  /** Close for good (no reconnect). */
  stop() {
    this.stopped = true;
    this._clearTimers();
    window.removeEventListener("online", this._onOnline);
    if (this.ws) this.ws.close(1000, "bye");
    this._setState("closed");
  }

  /** Skip the backoff wait (the browser is back online, or the person asked). */
  reconnectNow() {
    if (this.stopped || this.state === "online" || this.state === "connecting") return;
    clearTimeout(this._timers.reconnect);
    this.attempt = 0;
    this._connect();
  }

  get online() {
    return this.state === "online";
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("status", { state, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _clearTimers() {
    for (const key of Object.keys(this._timers)) {
      clearTimeout(this._timers[key]);
      clearInterval(this._timers[key]);
      this._timers[key] = null;
    }
  }

  _connect() {
    this._clearTimers();
    this._setState("connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (error) {
      this._scheduleReconnect(null);
      return;
    }
    this.ws = ws;
    this._timers.connect = setTimeout(() => ws.close(4000, "connect timeout"), CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      this._raw({ type: "hello", token: this.token, client: this.clientName, inbox: this.inbox });
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this._alive();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      const frames = frame.type === "batch" ? frame.frames : [frame];
      for (const one of frames) this._handle(one);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._clearTimers();
      for (const conv of this.conversations.values()) conv.live = false;
      if (this.stopped) return;
      const welcomed = this.state === "online";
      if (event.code === CLOSE_TOKEN_EXPIRED || (event.code === CLOSE_POLICY && !welcomed)) {
        this.stopped = true;
        const code = event.code === CLOSE_TOKEN_EXPIRED ? "token_expired" : "unauthorized";
        this._setState("failed", { code, reason: event.reason });
        this._emit("fatal", { code, reason: event.reason });
        return;
      }
      this._scheduleReconnect(event.code);
    });
  }

  _scheduleReconnect(code) {
    const cap = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** this.attempt);
    // "Equal jitter": at least half the cap, so clients spread out but never hammer.
    let delay = cap / 2 + Math.random() * (cap / 2);
    if (code === CLOSE_TOO_SLOW && this.attempt === 0) delay = Math.random() * 200;
    if (code === CLOSE_RATE_LIMITED) delay = Math.max(delay, 5000);
    this.attempt += 1;
    this._setState("offline", { code, delay, attempt: this.attempt });
    this._timers.reconnect = setTimeout(() => this._connect(), delay);
  }

  /** Any frame proves the connection alive: restart the ping timer. */
  _alive() {
    clearTimeout(this._timers.pong);
    this._timers.pong = null;
  }

  _startHeartbeat(seconds) {
    const interval = Math.max(5, Number(seconds) || 25) * 1000;
    clearInterval(this._timers.ping);
    this._timers.ping = setInterval(() => {
      if (!this.ws || this._timers.pong) return;
      this._raw({ type: "ping", nonce: Date.now() % 2 ** 31 });
      const ws = this.ws;
      this._timers.pong = setTimeout(() => ws.close(4000, "no pong"), PONG_TIMEOUT_MS);
    }, interval);
  }

  _raw(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // -- frames from the server --------------------------------------------------------------

  _handle(frame) {
    switch (frame.type) {
      case "welcome":
        clearTimeout(this._timers.connect);
        this.welcome = frame;
        this.identity = frame.identity;
        this.attempt = 0;
        this.everConnected = true;
        this._setState("online");
        this._startHeartbeat(frame.heartbeat);
        this._emit("welcome", frame);
        for (const [conversation, conv] of this.conversations) this._sendJoin(conversation, conv);
        // Messages for conversations this client never joined (staff may post anywhere).
        this._flush(null);
        return;
      case "history_end": {
        const conv = this.conversations.get(frame.conversation);
        if (conv) {
          conv.lastSeq = Math.max(conv.lastSeq, frame.last_seq);
          conv.live = true;
          if (conv.pendingRead !== null) {
            this._raw({ type: "read", conversation: frame.conversation, seq: conv.pendingRead });
            conv.pendingRead = null;
          }
        }
        this._emit("history_end", frame);
        this._flush(frame.conversation);
        return;
      }
      case "message": {
        const conv = this.conversations.get(frame.conversation);
        if (conv) {
          // An edit or delete replaces a message the client may have already: it arrives
          // live, outside the seq order, so it never moves lastSeq.
          const replaces = isReplacement(frame);
          if (frame.seq <= conv.lastSeq && !replaces) return; // seen already (a resend's replay)
          if (!replaces) conv.lastSeq = frame.seq;
        }
        if (frame.client_msg_id && this._mine(frame.author)) this.outbox.delete(frame.client_msg_id);
        this._emit("message", frame);
        return;
      }
      case "ack":
        this.outbox.delete(frame.client_msg_id);
        this._emit("ack", frame);
        return;
      case "error":
        this._error(frame);
        return;
      default:
        this._emit(frame.type, frame);
    }
  }

  _mine(author) {
    return this.identity && author && author.kind === this.identity.kind && author.id === this.identity.id;
  }

  _error(frame) {
    const pending = frame.ref ? this.outbox.get(frame.ref) : null;
    if (pending) {
      if (RETRYABLE.has(frame.code)) {
        // Try again shortly on this connection; a reconnect would resend it anyway.
        setTimeout(() => this._transmit(pending), 1000);
      } else {
        this.outbox.delete(frame.ref);
        this._emit("send_failed", {
          clientMsgId: frame.ref,
          conversation: pending.conversation,
          code: frame.code,
          message: frame.message,
        });
      }
    }
    this._emit("error", frame);
  }

  // -- commands ------------------------------------------------------------------------------

  /** Subscribe to a conversation: everything after `afterSeq`, then live; kept across reconnects. */
  join(conversation, afterSeq = 0) {
    const conv = { lastSeq: afterSeq, live: false, pendingRead: null };
    this.conversations.set(conversation, conv);
    if (this.online) this._sendJoin(conversation, conv);
  }

  leave(conversation) {
    if (this.conversations.delete(conversation) && this.online) {
      this._raw({ type: "leave", conversation });
    }
  }

  lastSeq(conversation) {
    return this.conversations.get(conversation)?.lastSeq ?? 0;
  }

  _sendJoin(conversation, conv) {
    conv.live = false;
    this._raw({ type: "join", conversation, after_seq: conv.lastSeq });
  }

  /**
   * Queue a message and send it when the conversation is live. Returns its client_msg_id;
   * the message is settled by a `message`/`ack` with that id or by `send_failed`.
   */
  send(conversation, body, { attachments = [], kind = "message", inReplyTo = null, clientMsgId = null } = {}) {
    const id = clientMsgId || newClientMsgId();
    const frame = {
      type: "send",
      conversation,
      client_msg_id: id,
      body,
      attachments,
      kind,
      in_reply_to: inReplyTo,
      ref: id,
    };
    this.outbox.set(id, frame);
    this._transmit(frame);
    return id;
  }

  _transmit(frame) {
    if (!this.outbox.has(frame.client_msg_id) || !this.online) return;
    const conv = this.conversations.get(frame.conversation);
    // A joined conversation resends only after its history replay, so a message the
    // server stored before the connection dropped is recognised first.
    if (conv && !conv.live) return;
    this._raw(frame);
  }

  _flush(conversation) {
    for (const frame of this.outbox.values()) {
      const joined = this.conversations.has(frame.conversation);
      if (conversation === null ? !joined : frame.conversation === conversation) this._transmit(frame);
    }
  }

  /** Unsent messages of a conversation, oldest first. */
  pending(conversation) {
    return [...this.outbox.values()].filter((f) => f.conversation === conversation);
  }

  typing(conversation, active) {
    if (this.conversations.get(conversation)?.live) this._raw({ type: "typing", conversation, active });
  }

  read(conversation, seq) {
    const conv = this.conversations.get(conversation);
    if (conv && conv.live && this._raw({ type: "read", conversation, seq })) return;
    if (conv) conv.pendingRead = Math.max(conv.pendingRead ?? 0, seq);
  }
}
