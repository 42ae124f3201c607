/**
 * Content negotiation (RFC 9110 12.5.1) over a fixed list of media types a route can answer in.
 * Bounded: at most MAX_RANGES ranges of an Accept header are read, by splitting, with no regex.
 */

export interface MediaRange {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
  readonly q: number;
  readonly index: number;
}

const MAX_RANGES = 64;

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** The ranges of an Accept header, lower-cased (quoted commas are not expected in Accept and split like any other). */
export function parseAccept(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  const parts = header.split(',', MAX_RANGES);
  parts.forEach((part, index) => {
    const [rawType = '', ...rawParams] = part.split(';');
    const type = rawType.trim().toLowerCase();
    if (!type.includes('/')) return;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of rawParams) {
      const eq = p.indexOf('=');
      if (eq === -1) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = unquote(p.slice(eq + 1).trim());
      if (name === 'q') {
        const n = Number(value);
        q = Number.isFinite(n) && n >= 0 && n <= 1 ? n : 0;
      } else params.set(name, value);
    }
    out.push({ type, params, q, index });
  });
  return out;
}

export interface Offer {
  readonly type: string;
  /** Whether the offer satisfies a range that names it with these parameters (default: any parameters do). */
  readonly acceptsParams?: (params: ReadonlyMap<string, string>) => boolean;
}

/**
 * The offer the client prefers, or null when it accepts none of them. No Accept header (or an
 * empty one) takes the first offer. Each offer's quality comes from its most specific matching
 * range (type/subtype, then type/*, then * / *); the highest quality wins; at equal quality, an
 * offer the client named explicitly, in the order named; then the order of the offers.
 */
export function negotiate(header: string | undefined, offers: readonly Offer[]): Offer | null {
  if (!header || header.trim() === '') return offers[0] ?? null;
  const ranges = parseAccept(header);
  if (ranges.length === 0) return offers[0] ?? null;
  let best: { offer: Offer; q: number; named: number; order: number } | null = null;
  offers.forEach((offer, order) => {
    const [main] = offer.type.split('/');
    let specificity = -1;
    let q = 0;
    let named = Number.POSITIVE_INFINITY;
    for (const r of ranges) {
      const s = r.type === offer.type ? 2 : r.type === `${main}/*` ? 1 : r.type === '*/*' ? 0 : -1;
      if (s === 2 && offer.acceptsParams && !offer.acceptsParams(r.params)) continue;
      if (s > specificity) {
        specificity = s;
        q = r.q;
        named = s === 2 ? r.index : Number.POSITIVE_INFINITY;
      }
    }
    if (specificity < 0 || q <= 0) return;
    if (!best || q > best.q || (q === best.q && (named < best.named || (named === best.named && order < best.order)))) {
      best = { offer, q, named, order };
    }
  });
  return (best as { offer: Offer } | null)?.offer ?? null;
}

/** Whether Accept prefers `alternative` over the route's default `fallback` (neither accepted: the default). */
export function prefersOver(header: string | undefined, alternative: string, fallback = 'application/json'): boolean {
  return negotiate(header, [{ type: fallback }, { type: alternative }])?.type === alternative;
}
