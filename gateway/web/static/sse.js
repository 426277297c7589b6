// Server-Sent Events over fetch(): the event stream format of the HTML
// standard (text/event-stream), read from a Response body. fetch() rather
// than EventSource because the stream then carries the caller's identity in
// the same headers as every other request (no token in a URL, where logs and
// history would keep it), its HTTP errors can be read and shown, and
// reconnection can stop on an answer that retrying cannot change.

// EventStreamParser turns text, pushed in chunks of any size, into events.
// It follows the standard's parsing rules: lines end in CRLF, LF or CR; a
// line starting with ':' is a comment; "event", "data", "id" and "retry" are
// the fields; a blank line dispatches the event.
export class EventStreamParser {
  // onEvent({type, data, id}) is called for each event with data; onRetry(ms)
  // for each valid retry field.
  constructor(onEvent, onRetry = () => {}) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.buffer = "";
    this.started = false;
    this.data = [];
    this.type = "";
    this.idBuffer = "";
    // lastEventId is the id to resume from, as EventSource keeps it.
    this.lastEventId = "";
  }

  push(text) {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const buf = this.buffer + text;
    let pos = 0;
    for (;;) {
      const cr = buf.indexOf("\r", pos);
      const lf = buf.indexOf("\n", pos);
      let end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      let next = end + 1;
      if (buf[end] === "\r") {
        if (end + 1 === buf.length) break; // a LF may follow in the next chunk
        if (buf[end + 1] === "\n") next = end + 2;
      }
      this.line(buf.slice(pos, end));
      pos = next;
    }
    this.buffer = buf.slice(pos);
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line[0] === ":") return;
    const colon = line.indexOf(":");
    let field = line, value = "";
    if (colon !== -1) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
    }
    switch (field) {
      case "event": this.type = value; break;
      case "data": this.data.push(value); break;
      case "id": if (!value.includes("\0")) this.idBuffer = value; break;
      case "retry": if (/^\d+$/.test(value)) this.onRetry(Number(value)); break;
    }
  }

  dispatch() {
    this.lastEventId = this.idBuffer;
    const data = this.data, type = this.type;
    this.data = [];
    this.type = "";
    if (data.length === 0) return;
    this.onEvent({ type: type || "message", data: data.join("\n"), id: this.lastEventId });
  }
}

// readEventStream feeds the body of a response to parser until the body ends
// (resolves) or fails or signal aborts (rejects). A partial event at the end
// is dropped, as the standard says.
export async function readEventStream(body, parser, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    parser.buffer = "";
    parser.data = [];
    parser.type = "";
    parser.idBuffer = parser.lastEventId;
  }
}
