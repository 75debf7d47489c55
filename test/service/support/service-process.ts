import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../support/requirements.ts';

/** One JSON log line of the service, or the raw text of a non-JSON line. */
export type OutputLine = { raw: string; log: Record<string, unknown> | null };

/** Exit status of a service process. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options of {@link ServiceProcess.start}. */
export interface ServiceProcessOptions {
  /** TypeScript file to run with tsx, relative to the repository root. */
  script: string;
  env: Record<string, string>;
  /** Maximum wait for the `server.listening` log line. */
  startTimeoutMs?: number;
}

/**
 * A service started as a child process (`node --import tsx <script>`, so the PID is the server itself)
 * on 127.0.0.1 with PORT=0. Collects its output lines and ends only its own PID.
 */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly lines: OutputLine[] = [];
  readonly exited: Promise<ExitStatus>;
  url = '';
  private readonly listeners = new Set<() => void>();

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(() => this.notify());
    let pending = '';
    const collect = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const raw of parts.filter((line) => line.length > 0)) this.lines.push({ raw, log: parseLog(raw) });
      this.notify();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  /** Starts the script and waits until it listens. Throws with the collected output when it exits or times out first. */
  static async start(options: ServiceProcessOptions): Promise<ServiceProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, options.script)], {
      cwd: repoRoot,
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', FACEPTOR_LOG_LEVEL: 'info', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(child);
    const listening = await service.waitForLine((line) => line.log?.event === 'server.listening', options.startTimeoutMs ?? 60_000);
    service.url = String(listening.log!.url);
    return service;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Returns the raw output lines that match `pattern`. */
  grep(pattern: RegExp): string[] {
    return this.lines.map((line) => line.raw).filter((raw) => pattern.test(raw));
  }

  /** Waits for an output line that satisfies `match`; fails when the process exits or `timeoutMs` passes first. */
  waitForLine(match: (line: OutputLine) => boolean, timeoutMs: number): Promise<OutputLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(match);
        if (found) return finish(() => resolve(found));
        if (!this.running) return finish(() => reject(new Error(`service exited before the expected line:\n${this.output()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for a line:\n${this.output()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` to this process (by PID) and waits up to `timeoutMs` for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ExitStatus> {
    if (this.running) process.kill(this.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`service ${this.pid} did not exit within ${timeoutMs} ms of ${signal}:\n${this.output()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process with SIGKILL if it still runs; for test cleanup. */
  async kill(): Promise<void> {
    if (this.running) await this.stop('SIGKILL', 10_000);
  }

  /** Returns the last 60 output lines, for failure messages. */
  output(): string {
    return this.lines.slice(-60).map((line) => line.raw).join('\n');
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

function parseLog(raw: string): Record<string, unknown> | null {
  if (!raw.startsWith('{')) return null;
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
}
