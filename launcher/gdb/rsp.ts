// The GDB remote serial protocol's framing, and nothing else: bytes from the
// socket in, packets out (`$data#cs`), with the acks, the out-of-band Ctrl-C
// (0x03) and the `}` escapes. Whatever arrives is hostile until checked: a
// packet is bounded (MAX_PACKET), a bad checksum is a `-`, bytes between
// packets are dropped, and an overlong or unterminated packet is an error the
// server answers by closing the connection — the reader never grows without
// bound and never throws. Read next: launcher/gdb/server.ts.

/** The largest packet we take (advertised as PacketSize in qSupported). */
export const MAX_PACKET = 0x4000;

/** What the reader found in the byte stream. */
export type RspEvent =
  /** A packet whose checksum matched: its data, escapes undone, as latin1 text. */
  | { kind: "packet"; data: string }
  /** `+` / `-`: the peer's ack or request to resend. */
  | { kind: "ack" }
  | { kind: "nak" }
  /** 0x03 outside a packet: stop the target. */
  | { kind: "interrupt" }
  /** A whole packet with a wrong checksum (answered with `-`). */
  | { kind: "bad-checksum" }
  /** A packet longer than MAX_PACKET: the stream cannot be trusted any more. */
  | { kind: "overflow" };

const DOLLAR = 0x24, HASH = 0x23, ESCAPE = 0x7d, PLUS = 0x2b, MINUS = 0x2d, CTRL_C = 0x03;

/** Splits a byte stream into RSP events; keep one per connection. */
export class RspReader {
  /** 0 between packets, 1 in a packet's data, 2 and 3 at its checksum digits. */
  #state = 0;
  readonly #data = new Uint8Array(MAX_PACKET);
  #len = 0;
  #sum = 0;
  #given = 0;

  /** Feed bytes; returns the events they complete, in order. */
  feed(bytes: Uint8Array): RspEvent[] {
    const out: RspEvent[] = [];
    for (const b of bytes) {
      switch (this.#state) {
        case 0:
          if (b === DOLLAR) {
            this.#state = 1;
            this.#len = 0;
            this.#sum = 0;
          } else if (b === PLUS) out.push({ kind: "ack" });
          else if (b === MINUS) out.push({ kind: "nak" });
          else if (b === CTRL_C) out.push({ kind: "interrupt" });
          // Anything else between packets is noise: dropped.
          break;
        case 1:
          if (b === HASH) {
            this.#state = 2;
          } else if (this.#len === MAX_PACKET) {
            this.#state = 0;
            out.push({ kind: "overflow" });
            return out; // the rest of this chunk belongs to the same bad packet
          } else {
            this.#data[this.#len++] = b;
            this.#sum = (this.#sum + b) & 0xff;
          }
          break;
        case 2:
        case 3: {
          const d = hexDigit(b);
          if (d < 0) {
            this.#state = 0;
            out.push({ kind: "bad-checksum" });
            break;
          }
          if (this.#state === 2) {
            this.#given = d << 4;
            this.#state = 3;
            break;
          }
          this.#state = 0;
          if ((this.#given | d) !== this.#sum) out.push({ kind: "bad-checksum" });
          else out.push({ kind: "packet", data: unescape(this.#data.subarray(0, this.#len)) });
          break;
        }
      }
    }
    return out;
  }
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** Undo `}` escapes (the next byte XOR 0x20); the result as latin1 text, one char per byte. */
function unescape(raw: Uint8Array): string {
  let s = "";
  for (let i = 0; i < raw.length; i++) {
    let b = raw[i];
    if (b === ESCAPE && i + 1 < raw.length) b = raw[++i] ^ 0x20;
    s += String.fromCharCode(b);
  }
  return s;
}

/** Frame `data` (latin1 text) as a packet, escaping `$ # } *`. */
export function framePacket(data: string): Uint8Array {
  const body: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i) & 0xff;
    if (c === DOLLAR || c === HASH || c === ESCAPE || c === 0x2a) body.push(ESCAPE, c ^ 0x20);
    else body.push(c);
  }
  let sum = 0;
  for (const b of body) sum = (sum + b) & 0xff;
  const out = new Uint8Array(body.length + 4);
  out[0] = DOLLAR;
  out.set(body, 1);
  out[body.length + 1] = HASH;
  const cs = sum.toString(16).padStart(2, "0");
  out[body.length + 2] = cs.charCodeAt(0);
  out[body.length + 3] = cs.charCodeAt(1);
  return out;
}
