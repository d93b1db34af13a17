/**
 * Private: turning a byte stream into lines with bounded memory, and keeping
 * a bounded tail of them for error messages.
 *
 * @module
 */

const NEWLINE = 0x0a;

/**
 * How a piece of text ended: at a newline, because the buffer was full and
 * the line goes on, or at the end of the stream without a newline.
 */
export type LineEnd = "newline" | "full" | "eof";

/**
 * Splits bytes into lines of at most `maxBytes` bytes each: a longer line is
 * delivered in pieces (`"full"`). A trailing `\r` is removed from a line
 * ending at a newline or at EOF. Invalid UTF-8 becomes U+FFFD; a BOM is kept.
 */
export class LineSplitter {
  readonly #buf: Uint8Array;
  #len = 0;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  readonly #onLine: (text: string, end: LineEnd) => void;

  /**
   * Creates a splitter.
   *
   * @param maxBytes Longest line delivered in one piece.
   * @param onLine Called for each line or piece, without the newline.
   */
  constructor(maxBytes: number, onLine: (text: string, end: LineEnd) => void) {
    this.#buf = new Uint8Array(maxBytes);
    this.#onLine = onLine;
  }

  /**
   * Feeds bytes.
   *
   * @param chunk The next bytes of the stream.
   */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, pos);
      const end = nl === -1 ? chunk.length : nl;
      while (pos < end) {
        if (this.#len === this.#buf.length) this.#emit("full");
        const n = Math.min(this.#buf.length - this.#len, end - pos);
        this.#buf.set(chunk.subarray(pos, pos + n), this.#len);
        this.#len += n;
        pos += n;
      }
      if (nl === -1) return;
      this.#emit("newline");
      pos = nl + 1;
    }
  }

  /** Ends the stream: delivers a last line that had no newline, if any. */
  end(): void {
    if (this.#len > 0) this.#emit("eof");
  }

  #emit(end: LineEnd): void {
    let bytes = this.#buf.subarray(0, this.#len);
    this.#len = 0;
    if (end !== "full" && bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
    // A piece may end inside a UTF-8 sequence: stream mode carries it over.
    const text = this.#decoder.decode(bytes, { stream: end === "full" });
    this.#onLine(text, end);
  }
}

/** The last lines of a stream, bounded in count and size. */
export class LineTail {
  readonly #lines: string[] = [];
  #chars = 0;
  readonly #maxLines: number;
  readonly #maxChars: number;
  readonly #maxLineChars: number;

  /**
   * Creates an empty tail.
   *
   * @param maxLines Most lines kept.
   * @param maxChars Most characters kept in all.
   * @param maxLineChars Longest line kept; longer ones are cut and marked with "…".
   */
  constructor(maxLines: number, maxChars: number, maxLineChars: number) {
    this.#maxLines = maxLines;
    this.#maxChars = maxChars;
    this.#maxLineChars = maxLineChars;
  }

  /**
   * Adds a line, dropping the oldest ones over the bounds.
   *
   * @param line The line, without its newline.
   */
  add(line: string): void {
    const kept = line.length > this.#maxLineChars ? `${line.slice(0, this.#maxLineChars)}…` : line;
    this.#lines.push(kept);
    this.#chars += kept.length;
    while (
      this.#lines.length > this.#maxLines ||
      (this.#chars > this.#maxChars && this.#lines.length > 1)
    ) {
      this.#chars -= this.#lines.shift()!.length;
    }
  }

  /** The kept lines joined by newlines. */
  text(): string {
    return this.#lines.join("\n");
  }
}
