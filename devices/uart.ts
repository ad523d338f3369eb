// An ns16550a UART at UART_BASE, executed by the cpu actor on its bus: the
// console of OpenSBI (its banner, the SBI console it serves) and of U-Boot.
// Transmit is immediate (THR always empty); received bytes come from a
// UartInput (the cpu actor's share of the terminal's input, which it gets
// only while the guest reads this UART: docs/machine.md, "Who gets typed
// input"). A byte leaves the input only when the guest reads RBR, so input
// the guest never reads here is never lost to another console. Interrupts
// (rx data, THR empty) drive PLIC line UART_IRQ.
// Read next: docs/firmware.md, actors/cpu/cpu_actor.ts (its input).

// Register offsets (reg-shift 0, byte wide, as on QEMU virt).
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_RDI = 1; // received data available
const IER_THRI = 2; // transmitter holding register empty
const LCR_DLAB = 0x80;
const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const IIR_NONE = 0x01;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const MCR_LOOP = 0x10;

/** Where received bytes come from. */
export interface UartInput {
  /**
   * Is a byte waiting? `asked`: the guest asked for input (an RBR read, or
   * the receive interrupt enabled) rather than looked at the line status,
   * which firmware also polls before every byte it sends.
   */
  ready(asked: boolean): boolean;
  /** Take the next byte; only after ready() said yes. */
  take(): number;
}

export interface UartHost {
  /** A byte the guest transmitted. */
  out(byte: number): void;
  /** Where received bytes come from (null: nothing is ever received). */
  input: UartInput | null;
  /** Drive the interrupt line (level). */
  setIrq(level: boolean): void;
}

export class Uart {
  ier = 0;
  lcr = 0x03; // 8N1
  mcr = 0;
  scr = 0;
  dll = 1;
  dlm = 0;
  fifoEnabled = false;
  /** A THR-empty interrupt is owed (set by a write or by enabling it; cleared by reading IIR). */
  #thrPending = false;
  /** A byte looped back (MCR loopback), not yet read. */
  #rx = -1;
  readonly #host: UartHost;
  #level = false;

  constructor(host: UartHost) {
    this.#host = host;
  }

  /** Is a received byte waiting? (`asked`: see UartInput.ready.) */
  rxReady(asked = false): boolean {
    return this.#rx >= 0 || (this.#host.input?.ready(asked) ?? false);
  }

  read(off: number, size: number): number {
    if (off + size > 0x100) return -1;
    let v = 0;
    switch (off) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) v = this.dll;
        else if (this.#rx >= 0) {
          v = this.#rx;
          this.#rx = -1;
        } else if (this.rxReady(true)) v = this.#host.input!.take();
        break;
      case IER_DLM:
        v = this.lcr & LCR_DLAB ? this.dlm : this.ier;
        break;
      case IIR_FCR: {
        v = this.#iir();
        if (v === IIR_THRI) this.#thrPending = false; // reading IIR acknowledges THRE
        v |= this.fifoEnabled ? 0xc0 : 0;
        break;
      }
      case LCR:
        v = this.lcr;
        break;
      case MCR:
        v = this.mcr;
        break;
      case LSR:
        v = LSR_THRE | LSR_TEMT | (this.rxReady() ? LSR_DR : 0);
        break;
      case MSR:
        // In loopback the modem inputs follow the outputs (Linux's probe checks this);
        // otherwise report carrier, data set ready and clear to send.
        v = this.mcr & MCR_LOOP
          ? ((this.mcr & 0x0c) << 4) | ((this.mcr & 0x01) << 5) | ((this.mcr & 0x02) << 3)
          : 0xb0;
        break;
      case SCR:
        v = this.scr;
        break;
    }
    this.update();
    return v;
  }

  write(off: number, size: number, value: number): boolean {
    if (off + size > 0x100) return false;
    const b = value & 0xff;
    switch (off) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) this.dll = b;
        else {
          if (this.mcr & MCR_LOOP) {
            if (this.#rx < 0) this.#rx = b; // loopback: what is sent is received
          } else this.#host.out(b);
          this.#thrPending = true;
        }
        break;
      case IER_DLM:
        if (this.lcr & LCR_DLAB) this.dlm = b;
        else {
          // Enabling the THR-empty interrupt with THR empty raises it at once.
          if ((b & IER_THRI) && !(this.ier & IER_THRI)) this.#thrPending = true;
          this.ier = b & 0x0f;
        }
        break;
      case IIR_FCR:
        this.fifoEnabled = (b & 1) !== 0;
        // "Clear the receive FIFO" drops nothing here: what the terminal typed is
        // still on the wire until the guest reads it, and U-Boot re-initialises
        // the port (FCR = 7) twice while booting — piped input would lose bytes.
        break;
      case LCR:
        this.lcr = b;
        break;
      case MCR:
        this.mcr = b & 0x1f;
        break;
      case SCR:
        this.scr = b;
        break;
    }
    this.update();
    return true;
  }

  #iir(): number {
    // An enabled receive interrupt is the guest listening (Linux's 8250 once ttyS0 is open).
    if ((this.ier & IER_RDI) && this.rxReady(true)) return IIR_RDI;
    if ((this.ier & IER_THRI) && this.#thrPending) return IIR_THRI;
    return IIR_NONE;
  }

  /** Recompute the interrupt line (also called between batches: input may have arrived). */
  update(): void {
    const level = this.#iir() !== IIR_NONE;
    if (level !== this.#level) {
      this.#level = level;
      this.#host.setIrq(level);
    }
  }
}
