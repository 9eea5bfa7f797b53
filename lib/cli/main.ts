#!/usr/bin/env node
// The `odirect` command: probe, bench, cp and read, built on the package's
// public API alone. Every error is one line on stderr; the exit status is 0
// for success, 1 for a runtime failure, 2 for a usage error.
import path = require('path');
import { asksForHelp, UsageError } from './args';
import { Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Failure, removeTemporaryFiles } from './command';
import { benchCommand } from './bench';
import { cpCommand } from './cp';
import { probeCommand } from './probe';
import { readCommand } from './read';

const COMMANDS: Command[] = [probeCommand, benchCommand, cpCommand, readCommand];

function version(): string {
  // dist/cli/main.js -> the package's root.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.synopsis}`.length));
  return `Usage: odirect COMMAND [options]

Direct I/O (O_DIRECT) on Linux through io_uring, Linux AIO or a thread pool.

Commands:
${COMMANDS.map((c) => `  ${`${c.name} ${c.synopsis}`.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'odirect COMMAND --help' for a command's options.
  -h, --help      this help
  -V, --version   the version of odirect

Exit status: 0 success; 1 a runtime failure (an I/O error, a verify mismatch,
a read the kernel refuses); 2 a usage error (an unknown command, a bad flag or
argument). Errors are one line on stderr.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError(`a command is needed: ${COMMANDS.map((c) => c.name).join(', ')} (see odirect --help)`);
  if (name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && command === undefined) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(`${command?.help ?? mainHelp()}\n`);
    return EXIT_OK;
  }
  if (name === '-V' || name === '--version') {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    throw new UsageError(name.startsWith('-') ? `unknown option '${name}' (see odirect --help)`
      : `unknown command '${name}' (the commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  }
  commandName = command.name;
  if (asksForHelp(rest)) {
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  return command.run(rest);
}

/** The subcommand running, for the prefix of its error line. */
let commandName: string | null = null;

/**
 * One line for any error. A usage error, an errno error from odirect or
 * Node, or a failure the command explains are a user's or the system's
 * business: their message alone. Anything else is a fault in odirect, and
 * its stack is what a report of it needs.
 */
function report(error: unknown): number {
  const prefix = `odirect${commandName !== null ? ` ${commandName}` : ''}: `;
  const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ');
  if (error instanceof UsageError) {
    const hint = commandName !== null ? ` (see odirect ${commandName} --help)` : '';
    process.stderr.write(`${prefix}${oneLine(error.message)}${error.message.includes('--help') ? '' : hint}\n`);
    return EXIT_USAGE;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Failure || (error instanceof Error && typeof code === 'string')) {
    process.stderr.write(`${prefix}${oneLine(error.message)}\n`);
    return EXIT_FAILURE;
  }
  process.stderr.write(`${prefix}internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  return EXIT_FAILURE;
}

if (require.main === module) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      removeTemporaryFiles();
      process.stderr.write('\n');
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
  main(process.argv.slice(2)).then((status) => {
    process.exitCode = status;
  }, (error: unknown) => {
    removeTemporaryFiles();
    process.exitCode = report(error);
  });
}
