// A child process run to the end for its output: fio for `odirect bench
// --compare` and bench/, and the C floor in bench/randread.ts.
import { spawn } from 'child_process';

/**
 * Runs `command` with `args` and no stdin; resolves to what it wrote once it
 * exits with status 0, and rejects with `name`, the status and its stderr
 * otherwise.
 */
export function runToEnd(command: string, args: string[], name = [command, ...args].join(' '),
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => { stdout += data; });
    child.stderr.setEncoding('utf8').on('data', (data: string) => { stderr += data; });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`${name} exited with ${status}: ${stderr.trim()}`));
      else resolve({ stdout, stderr });
    });
  });
}
