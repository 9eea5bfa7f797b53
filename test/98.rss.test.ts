// Resident memory stays flat under a long run of reads: the short version of
// scripts/rss-soak.js (1,000,000 reads per engine here; 10,000,000 with the
// script's defaults). The script runs each engine in a process of its own, so
// that the RSS measured is the run's alone, not what earlier tests left in
// this one; its header says why the bound is 16 MiB and why V8's young
// generation is fixed at its largest size there.
import { expect } from 'chai';
import childProcess = require('child_process');
import path = require('path');
import { forEachEngine } from './helpers';

const root = path.resolve(path.dirname(require.resolve('odirect')), '..');
const OPS = 1_000_000;
const WARMUP = 200_000;
const SAMPLE = 100_000;
const BOUND_MIB = 16;

interface Sample { ops: number; rss: number; heapUsed: number; heapTotal: number; newSpace: number; external: number }
interface Report {
  engine: string; ops: number; samples: Sample[]; growthMib: number; boundMib: number;
  errors: number; wrong: { block: number; bytes: number } | null; ok: boolean;
}

/** Runs the soak for one engine; resolves to its JSON report. */
function soak(engine: string): Promise<Report> {
  const env = { ...process.env };
  // Under AddressSanitizer (scripts/test-asan.sh) freed memory waits in a
  // quarantine of up to 256 MiB before reuse, which RSS would count as growth.
  if (env.LD_PRELOAD?.includes('libasan') === true) env.ASAN_OPTIONS = `${env.ASAN_OPTIONS ?? ''}:quarantine_size_mb=0`;
  const args = [path.join(root, 'scripts', 'rss-soak.js'), '--engine', engine, '--json',
    '--ops', String(OPS), '--warmup', String(WARMUP), '--sample', String(SAMPLE), '--bound-mib', String(BOUND_MIB)];
  return new Promise((resolve, reject) => {
    childProcess.execFile(process.execPath, args, { env, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Report);
      } catch {
        reject(new Error(`rss-soak printed no report (${error?.message ?? 'no error'}): ${stderr}`));
      }
    });
  });
}

describe('resident memory under 1,000,000 reads', function () {
  // Hang guard only: a run takes a few seconds per engine.
  this.timeout(300_000);

  forEachEngine('rss', ({ engine }) => {
    it(`${OPS} random 4 KiB reads at depth 64 on the default ring: RSS grows by at most ${BOUND_MIB} MiB after warm-up`, async () => {
      const report = await soak(engine);
      expect(report.engine).to.equal(engine);
      expect(report.ops).to.equal(OPS);
      expect(report.errors).to.equal(0);
      expect(report.wrong, 'a read returned the wrong bytes').to.equal(null);
      expect(report.samples.map((s) => s.ops)).to.deep.equal(
        Array.from({ length: (OPS - WARMUP) / SAMPLE + 1 }, (_, i) => WARMUP + i * SAMPLE));
      const rss = report.samples.map((s) => s.rss);
      const growth = rss[rss.length - 1] - rss[0];
      expect(growth, `RSS after each ${SAMPLE} reads (MiB): ${rss.map((r) => (r / 2 ** 20).toFixed(1)).join(' ')}`)
        .to.be.at.most(BOUND_MIB * 2 ** 20);
      expect(report.ok).to.equal(true);
    });
  });
});
