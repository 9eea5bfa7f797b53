// `odirect read FILE LENGTH [OFFSET [ALIGNMENT]]`: one direct read, as the
// kernel sees it. The descriptor is opened here with O_DIRECT and read with
// readAt(fd, ...), which leaves every alignment check to the kernel, so a
// misaligned buffer, offset or length meets the kernel's own EINVAL; the
// command then says which of the three rules was broken.
import fs = require('fs');
import { alignmentOf, allocAligned, defaultRing, isAligned, readAt } from '../index';
import { expectPositionals, parseCommand, parseSize, UsageError } from './args';
import { Command, ENGINE_CHOICES, EXIT_OK, Failure, parseEngine } from './command';
import { filesystemOf } from './machine';

const MAX_LENGTH = 2 ** 30;
const MAX_ALIGNMENT = 2 ** 20;

const HELP = `Usage: odirect read [--engine NAME] FILE LENGTH [OFFSET [ALIGNMENT]]

Reads LENGTH bytes of FILE at OFFSET (default 0) with direct I/O, into a
buffer whose address is a multiple of ALIGNMENT (default 4096) and of no
larger power of two, and shows what happened. Direct I/O needs the buffer
address, the offset and the length to be multiples of the file's direct-I/O
alignment (see odirect probe FILE); break one of these rules and the kernel
answers EINVAL. This command passes the request to the kernel unchecked, and
when it is refused, names the rule that was broken.

LENGTH and OFFSET are byte counts, or sizes such as 4k and 1m (powers of
1024); LENGTH at most 1g. ALIGNMENT is a power of two from 1 to ${MAX_ALIGNMENT}.

Options:
  --engine NAME  ${ENGINE_CHOICES.join(', ')} (default auto: ODIRECT_ENGINE, else the first that starts)
  -h, --help     this help

Examples:
  odirect read /var/tmp/f 4096              aligned: reads 4096 bytes
  odirect read /var/tmp/f 4096 100          EINVAL: offset 100 is not a multiple of 512
  odirect read /var/tmp/f 1000              EINVAL: length 1000 is not a multiple of 512
  odirect read /var/tmp/f 4096 0 8          EINVAL: the buffer address is a multiple of 8 only

Exit status: 0 when the read succeeds (short reads at the end of the file
included); 1 when the kernel refuses it (EINVAL, explained on stdout and in
one line on stderr) or FILE cannot be opened; 2 for a bad option or argument.`;

interface Rule {
  name: string;
  ok: boolean;
  /** "offset 100 is not a multiple of 512 (the file's offset alignment)". */
  text: string;
}

function rules(buffer: Buffer, offset: number, length: number, alignment: { memory: number; offset: number }): Rule[] {
  const bufferOk = isAligned(buffer, alignment.memory);
  const offsetOk = offset % alignment.offset === 0;
  const lengthOk = length % alignment.offset === 0;
  const is = (ok: boolean): string => (ok ? 'is' : 'is not');
  return [
    { name: 'buffer address', ok: bufferOk,
      text: `the buffer address ${is(bufferOk)} a multiple of ${alignment.memory} (the file's memory alignment)` },
    { name: 'offset', ok: offsetOk, text: `the offset ${offset} ${is(offsetOk)} a multiple of ${alignment.offset} (the file's offset alignment)` },
    { name: 'length', ok: lengthOk, text: `the length ${length} ${is(lengthOk)} a multiple of ${alignment.offset} (the file's offset alignment)` },
  ];
}

/** The first `count` bytes as hex and as printable text. */
function preview(buffer: Buffer, count: number): string {
  const bytes = buffer.subarray(0, count);
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
  const text = [...bytes].map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('');
  return `${hex}  |${text}|`;
}

export const readCommand: Command = {
  name: 'read',
  synopsis: 'FILE LENGTH [OFFSET [ALIGNMENT]]',
  summary: 'one direct read, and why the kernel refuses a misaligned one',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommand(args, { engine: { type: 'string' } });
    expectPositionals(positionals, ['FILE', 'LENGTH', 'OFFSET', 'ALIGNMENT'], 2);
    const engine = parseEngine(values.engine as string | undefined);
    const [file, lengthText, offsetText = '0', alignmentText = '4096'] = positionals;
    const length = parseSize(lengthText, 'LENGTH');
    if (length > MAX_LENGTH) throw new UsageError(`LENGTH: ${length} is more than ${MAX_LENGTH} (1g)`);
    const offset = parseSize(offsetText, 'OFFSET', 0);
    const bufferAlignment = parseSize(alignmentText, 'ALIGNMENT');
    if (bufferAlignment > MAX_ALIGNMENT || (bufferAlignment & (bufferAlignment - 1)) !== 0) {
      throw new UsageError(`ALIGNMENT: ${alignmentText} is not a power of two from 1 to ${MAX_ALIGNMENT}`);
    }
    // readAt(fd, ...) goes through the default ring, whose engine ODIRECT_ENGINE names.
    if (engine !== 'auto') process.env.ODIRECT_ENGINE = engine;

    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    } catch (error) {
      if ((error as { code?: string }).code === 'EINVAL') {
        throw new Failure(`EINVAL: the filesystem of '${file}' (${filesystemOf(file) ?? 'unknown'}) refuses O_DIRECT at open`);
      }
      throw error;
    }
    try {
      const alignment = alignmentOf(fd);
      // A buffer at exactly `bufferAlignment`: the view starts that far into memory aligned to twice as much.
      const memory = allocAligned(length + bufferAlignment, bufferAlignment * 2);
      const buffer = memory.subarray(bufferAlignment, bufferAlignment + length);
      const checks = rules(buffer, offset, length, alignment);
      const out: string[] = [];
      out.push(`file       ${file} (${filesystemOf(file) ?? 'unknown filesystem'}), opened O_RDONLY|O_DIRECT as fd ${fd}`);
      out.push(`engine     ${defaultRing().engine}`);
      out.push(`alignment  memory ${alignment.memory}, offset ${alignment.offset} (from ${alignment.source})`);
      out.push(`request    ${length} bytes at offset ${offset}, into a buffer whose address is a multiple of ${bufferAlignment}` +
        `${bufferAlignment < 2 ** 30 ? ` (not of ${bufferAlignment * 2})` : ''}`);
      for (const rule of checks) out.push(`  ${rule.ok ? 'ok  ' : 'BAD '} ${rule.text}`);
      const broken = checks.filter((rule) => !rule.ok);
      let bytes: number;
      try {
        bytes = await readAt(fd, buffer, offset);
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        out.push(`result     ${message}`);
        if (code !== 'EINVAL') {
          process.stdout.write(`${out.join('\n')}\n`);
          throw error;
        }
        const why = broken.length > 0
          ? `${broken.map((rule) => rule.text).join('; and ')}`
          : 'every rule above holds, so the filesystem asks for more than it reports';
        out.push(`why        the kernel refuses a direct read unless the buffer address, the offset and the length are all`);
        out.push(`           multiples of the file's alignment: ${why}`);
        process.stdout.write(`${out.join('\n')}\n`);
        throw new Failure(`EINVAL: the kernel refused the direct read: ${why}`);
      }
      out.push(`result     read ${bytes} bytes${bytes < length ? ` (fewer than asked: the file ends at ${offset + bytes})` : ''}`);
      if (broken.length > 0) {
        const enforced = alignment.source === 'default'
          ? 'this filesystem reports no alignment (the figures above are defaults) and enforces none here'
          : 'this filesystem does not enforce the alignment it reports';
        out.push(`note       the kernel accepted it although ${broken.map((rule) => rule.text).join(' and ')}: ${enforced}`);
      }
      if (bytes > 0) out.push(`data       ${preview(buffer, Math.min(bytes, 16))}${bytes > 16 ? ' ...' : ''}`);
      process.stdout.write(`${out.join('\n')}\n`);
      return EXIT_OK;
    } finally {
      fs.closeSync(fd);
    }
  },
};
