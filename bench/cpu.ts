/** The CPU line every bench prints: machines of this kind differ (AVX-512 with AMX, or AVX2 only), and so do the numbers. */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const SIMD = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_tile'];

export interface CpuInfo {
  readonly model: string;
  readonly cores: number;
  /** The SIMD flags that decide the engine's speed, in the order of SIMD above. */
  readonly simd: readonly string[];
}

export function cpuInfo(): CpuInfo {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(' '));
  return {
    model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    simd: SIMD.filter((f) => flags.has(f)),
  };
}

export function cpuLine(): string {
  const c = cpuInfo();
  return `CPU: ${c.model} x${c.cores}; SIMD flags: ${c.simd.join(' ') || 'n/a'}; Node ${process.version}`;
}
