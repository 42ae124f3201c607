/** The CPU line every bench prints: machines of this kind differ (AVX-512 with AMX, or AVX2 only), and so do the numbers. */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const SIMD = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_tile'];

export interface CpuInfo {
  readonly model: string;
  readonly cores: number;
  /** The SIMD flags that decide the engine's speed, in the order of SIMD above. */
  readonly simd: readonly string[];
  /** ONEDNN_MAX_CPU_ISA when set: the widest instructions oneDNN (libtensorflow's and PyTorch's) may use. */
  readonly onednnIsaCap?: string;
}

export function cpuInfo(): CpuInfo {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(' '));
  const cap = process.env.ONEDNN_MAX_CPU_ISA;
  return {
    model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    simd: SIMD.filter((f) => flags.has(f)),
    ...(cap ? { onednnIsaCap: cap } : {}),
  };
}

export function cpuLine(): string {
  const c = cpuInfo();
  const cap = c.onednnIsaCap ? `; oneDNN capped at ${c.onednnIsaCap} (ONEDNN_MAX_CPU_ISA)` : '';
  return `CPU: ${c.model} x${c.cores}; SIMD flags: ${c.simd.join(' ') || 'n/a'}${cap}; Node ${process.version}`;
}

/**
 * `--isa avx2`: what an AVX2-only machine of this kind runs, on one with AVX-512 (`--isa avx512`:
 * AVX-512 without VNNI, BF16 or AMX). oneDNN, which
 * runs the convolutions, pooling and batch norm of libtensorflow (tfjs-node) and of PyTorch,
 * picks its kernels from the CPU's flags at run time, and ONEDNN_MAX_CPU_ISA caps that choice
 * (its verbose log then says `isa:Intel AVX2`). The rest does not depend on the flags:
 * libtensorflow's own (Eigen) kernels are built for AVX only, PyTorch's ATen kernels for AVX2 in
 * Debian's build, and JavaScript is JavaScript. Not capped: onnxruntime (MLAS reads CPUID and has
 * no switch) and anything the machine's microarchitecture does (clocks, caches). The returned
 * environment is set on this process (before the engine loads) and given to every child.
 */
export function isaCapEnv(argv: readonly string[]): Record<string, string> {
  const i = argv.indexOf('--isa');
  const value = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--isa='))?.slice(6);
  if (value === undefined) return {};
  const caps: Record<string, string> = { avx2: 'AVX2', avx512: 'AVX512_CORE' };
  const cap = caps[value];
  if (cap === undefined) throw new RangeError(`--isa wants one of ${Object.keys(caps).join(', ')} (got "${value}")`);
  process.env.ONEDNN_MAX_CPU_ISA = cap;
  return { ONEDNN_MAX_CPU_ISA: cap };
}
