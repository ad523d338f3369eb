// The cpu actor's protocol: the launcher starts it with guest RAM, the control
// block and the MMIO map; it answers once when the guest's fate is known.
// While the guest runs the cpu never returns to its event loop, so everything
// it must react to is a word in the control block (actors/layout.ts), never a
// message. Read next: actors/cpu_actor.ts.

export const CPU_ROLE = { role: "cpu", protocolVersion: 1 } as const;

/** One virtio-mmio slot as the cpu sees it: its register page and transport state. */
export interface MmioSlot {
  base: number;
  state: SharedArrayBuffer;
}

export interface CpuStart {
  kind: "start";
  ram: SharedArrayBuffer;
  ramBase: number;
  control: SharedArrayBuffer;
  plic: SharedArrayBuffer;
  slots: MmioSlot[];
  entry: number;
  fdtAddr: number;
  hartId: number;
  verbose: boolean;
  /** Keep a ring of recent PCs and report it with a crash. */
  tracePcs: boolean;
}

export type CpuIn = CpuStart;

export interface CpuFate {
  kind: "fate";
  /** A value of FATE in actors/layout.ts. */
  fate: number;
  /** What happened, in words (the lguest `lg->dead` string). */
  reason: string;
  instret: number;
  /** Recent PCs, oldest first, hex (when tracePcs was set and the guest died). */
  pcs?: string[];
}

export interface CpuLog {
  kind: "log";
  text: string;
}

export type CpuOut = CpuFate | CpuLog;
