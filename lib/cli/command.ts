// What every subcommand of `odirect` is, how it fails, and what it leaves to
// clean up if the user interrupts it.
import fs = require('fs');
import { ENGINES, EngineName, Ring, defaultRing } from '../index';
import { parseChoice } from './args';

export interface Command {
  name: string;
  /** The synopsis after `odirect NAME`, for the main help. */
  synopsis: string;
  /** One line for the main help. */
  summary: string;
  /** The command's --help text (main.ts prints it for --help or -h anywhere before `--`). */
  help: string;
  /** Runs the command on its arguments (after its name); resolves to the exit status. */
  run(args: string[]): Promise<number>;
}

/** Exit statuses that scripts can rely on. */
export const EXIT_OK = 0;
/** A runtime failure: an I/O error, a verify mismatch, a refused read. */
export const EXIT_FAILURE = 1;
/** A bad command, flag or argument. */
export const EXIT_USAGE = 2;

/** A runtime failure the command explains itself: reported as its message alone, exit status 1. */
export class Failure extends Error {
  override name = 'Failure';
}

/** The engine names a command's --engine takes: auto (the default ring, or ODIRECT_ENGINE) or one engine. */
export const ENGINE_CHOICES = ['auto', ...ENGINES] as const;

/** `--engine`'s value, checked. */
export function parseEngine(text: string | undefined): EngineName | 'auto' {
  return parseChoice(text ?? 'auto', 'engine', ENGINE_CHOICES);
}

/** The ring an --engine value means: the default ring for auto, else a new ring on that engine (close it after). */
export function ringFor(engine: EngineName | 'auto'): Ring {
  return engine === 'auto' ? defaultRing() : new Ring({ engine });
}

/** Closes a ring ringFor made; the default ring stays. */
export async function releaseRing(ring: Ring): Promise<void> {
  if (ring !== defaultRing()) await ring.close();
}

/** Files to delete if the process is interrupted before the command deletes them itself. */
const temporaryFiles = new Set<string>();

export function addTemporaryFile(file: string): void {
  temporaryFiles.add(file);
}

export function removeTemporaryFile(file: string): void {
  fs.rmSync(file, { force: true });
  temporaryFiles.delete(file);
}

export function removeTemporaryFiles(): void {
  for (const file of temporaryFiles) removeTemporaryFile(file);
}
