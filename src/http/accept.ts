/**
 * Content negotiation between a route's default media type and one alternative, by the Accept
 * header: the alternative wins with a higher q, or at the same q when it is named explicitly
 * (before the default when both are). No Accept header, or only wildcards, means the default.
 */

interface Range {
  readonly type: string;
  readonly q: number;
}

/** At most this many ranges are read (a client may send a long header; the rest is ignored). */
const MAX_RANGES = 64;

function ranges(header: string): Range[] {
  return header
    .split(',', MAX_RANGES)
    .map((part) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const qParam = params.find((p) => p.startsWith('q='));
      const q = qParam ? Number(qParam.slice(2)) : 1;
      return { type, q: Number.isFinite(q) ? q : 0 };
    });
}

/** Quality (q) the ranges give a media type: its most specific matching range wins. */
function quality(accept: readonly Range[], media: string): number {
  const [main] = media.split('/');
  let best = -1;
  let q = 0;
  for (const r of accept) {
    const specificity = r.type === media ? 2 : r.type === `${main}/*` ? 1 : r.type === '*/*' ? 0 : -1;
    if (specificity > best) {
      best = specificity;
      q = r.q;
    }
  }
  return q;
}

export function prefersOver(header: string | undefined, alternative: string, fallback = 'application/json'): boolean {
  if (!header) return false;
  const accept = ranges(header);
  const alt = quality(accept, alternative);
  const def = quality(accept, fallback);
  if (alt !== def) return alt > def;
  if (alt <= 0) return false;
  const at = (media: string) => accept.findIndex((r) => r.type === media);
  const altAt = at(alternative);
  const defAt = at(fallback);
  if (altAt === -1) return false;
  return defAt === -1 || altAt < defAt;
}
