// Command-line arguments: the flags of each subcommand, and the values they
// take (sizes as fio writes them, positive numbers, lists). A mistake in any
// of them is a UsageError, which the command reports in one line and exits 2.
import { parseArgs } from 'util';

/** A bad command, flag or argument: reported in one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A flag's name ('bs', shown as --bs) or a positional argument's (LENGTH, shown as is). */
function shown(name: string): string {
  return /^[a-z]/.test(name) ? `--${name}` : name;
}

const SCALES: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "4k", "1m", "1g", "4096", "4KiB": sizes as fio writes them (powers of 1024). `min` defaults to 1. */
export function parseSize(text: string, name: string, min = 1): number {
  const match = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (match === null) throw new UsageError(`${shown(name)}: cannot read a size from '${text}' (try 4096, 4k, 1m, 1g)`);
  const value = Number(match[1]) * SCALES[match[2].toLowerCase()];
  if (!Number.isSafeInteger(value)) throw new UsageError(`${shown(name)}: '${text}' is too large`);
  if (value < min) throw new UsageError(`${shown(name)}: '${text}' is less than ${min}`);
  return value;
}

export function parsePositive(text: string, name: string, integer = true): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${shown(name)}: '${text}' is not a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** One of `choices`, or a UsageError that lists them. */
export function parseChoice<T extends string>(text: string, name: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${shown(name)}: '${text}' is not one of ${choices.join(', ')}`);
  }
  return text as T;
}

/** "a,b" and repeated flags both give lists: --engine aio,threadpool --engine io_uring. */
export function listOf(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
}

/** A flag: --name VALUE (string), --name (boolean); `multiple` collects repeats into a list. */
export interface Flag {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

export interface Parsed {
  /** Strings for string flags (lists with `multiple`), true for boolean flags given, absent for flags not given. */
  values: { [name: string]: string | boolean | string[] | undefined };
  positionals: string[];
}

/** Whether the arguments ask for help: --help or -h before any `--`. */
export function asksForHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** util.parseArgs, strict, with positionals, its errors turned into one-line UsageErrors. */
export function parseCommand(args: string[], flags: Record<string, Flag>): Parsed {
  try {
    return parseArgs({ args, options: flags, allowPositionals: true, strict: true }) as Parsed;
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const option = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new UsageError(`unknown option '${option}'`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = /'(--?[\w-]+)/.exec(message)?.[1] ?? '';
      throw new UsageError(message.includes('argument missing')
        ? `option '${option}' needs a value` : `option '${option}' takes no value`);
    }
    throw error;
  }
}

/** The positional arguments, between `min` and `max` of them, or a UsageError naming what is missing or extra. */
export function expectPositionals(positionals: string[], names: string[], min: number): void {
  if (positionals.length < min) throw new UsageError(`missing ${names.slice(positionals.length, min).join(' and ')}`);
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument '${positionals[names.length]}' (takes ${names.join(' ')})`);
  }
}
