/**
 * The demo's terminal output: one timestamped line per event, node names in colour (on a TTY),
 * peer ids shown as the demo node's name when it is one of ours.
 */
const COLOURS = [36, 33, 35, 32, 34, 31, 96, 93]

export interface Printer {
  /** Registers a demo node so its peer id prints as its name. */
  name (peerId: string, name: string): void
  /** `who` shows the node (or "demo") the line is about. */
  line (who: string, text: string): void
  /** A peer id as the demo node's name, or shortened. */
  peer (peerId: string): string
  raw (text: string): void
}

export function createPrinter (out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Printer {
  const names = new Map<string, string>()
  const colourOf = new Map<string, number>()
  const tty = out.isTTY === true && process.env.NO_COLOR == null
  const paint = (who: string, s: string): string => {
    if (!tty) return s
    if (!colourOf.has(who)) colourOf.set(who, who === 'demo' ? 1 : COLOURS[colourOf.size % COLOURS.length]!)
    return `\x1b[${colourOf.get(who)}m${s}\x1b[0m`
  }
  return {
    name (peerId, name) { names.set(peerId, name) },
    peer (peerId) {
      const n = names.get(peerId)
      if (n != null) return n
      return peerId.length > 16 ? `${peerId.slice(0, 8)}…${peerId.slice(-6)}` : peerId
    },
    line (who, text) {
      const t = new Date().toISOString().slice(11, 23)
      out.write(`${t}  ${paint(who, who.padEnd(5))} ${text}\n`)
    },
    raw (text) { out.write(text + '\n') }
  }
}
