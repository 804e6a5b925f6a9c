import { createWriteStream, mkdirSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** An output source that can be held back: a stream, or a launched process's pipes. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * The last `limit` bytes of a stream, kept as a list of the chunks that arrived. Appending
 * never copies earlier output: whole chunks fall off the front and the oldest survivor is
 * narrowed with `subarray`, so a task printing gigabytes costs O(bytes) in total.
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** True once any byte has been dropped: the text may then start inside a UTF-8 sequence. */
  private trimmed = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.limit <= 0 || chunk.length === 0) {
      if (chunk.length > 0) this.trimmed = true;
      return;
    }
    if (chunk.length >= this.limit) {
      this.chunks = [chunk.subarray(chunk.length - this.limit)];
      this.trimmed ||= chunk.length > this.limit || this.size > 0;
      this.size = this.limit;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    let excess = this.size - this.limit;
    while (excess > 0) {
      this.trimmed = true;
      const first = this.chunks[0]!;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
        excess -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
        excess = 0;
      }
    }
  }

  /** Bytes currently held. */
  get byteLength(): number {
    return this.size;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }

  /**
   * The tail as text. After a trim the first bytes may be the continuation of a character
   * whose lead byte was dropped: those (at most three) are skipped rather than shown as U+FFFD.
   * Anything else that is not valid UTF-8 is decoded leniently.
   */
  text(): string {
    let buf = this.bytes();
    if (this.trimmed) {
      let skip = 0;
      while (skip < 3 && skip < buf.length && (buf[skip]! & 0xc0) === 0x80) skip++;
      buf = buf.subarray(skip);
    }
    return buf.toString('utf8');
  }
}

/**
 * Appends a task's stdout and stderr, interleaved in arrival order, to one log file. The
 * sources are paused while the file lags behind so a fast writer cannot fill memory, and a
 * failing log never stalls or fails the task itself: the error is reported by `close`.
 */
export class LogFile {
  private stream: WriteStream | null = null;
  private error: Error | null = null;
  private readonly sources: Pausable[] = [];
  private closed: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      const stream = createWriteStream(path, { flags: 'a' });
      this.closed = new Promise((resolve) => stream.once('close', () => resolve()));
      stream.on('error', (err) => {
        this.error ??= err;
        this.resumeSources();
        stream.destroy();
      });
      stream.on('drain', () => this.resumeSources());
      this.stream = stream;
    } catch (err) {
      this.error = err as Error;
    }
  }

  /** Registers a source that is paused while the file catches up. */
  follow(source: Pausable): void {
    this.sources.push(source);
  }

  write(chunk: Buffer): void {
    if (!this.stream || this.error) return;
    if (!this.stream.write(chunk)) {
      for (const s of this.sources) s.pause();
    }
  }

  /** Flushes and closes the file; resolves with the reason the log is incomplete, if it is. */
  async close(): Promise<string | null> {
    if (this.stream && !this.stream.destroyed) this.stream.end();
    await this.closed;
    return this.error ? `could not write the output log ${this.path}: ${this.error.message}` : null;
  }

  private resumeSources(): void {
    for (const s of this.sources) s.resume();
  }
}
