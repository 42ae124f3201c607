/**
 * multipart/related (RFC 2387, RFC 2046 5.1) as STOW-RS sends it (PS3.18 8.6.1.2): a body already
 * held in memory under the route's body limit, cut into parts by searching for the boundary with
 * Buffer.indexOf (no regular expression touches the body). Bounded everywhere: the boundary's
 * length, the number of parts, the size of each part's headers. Every refusal is a coded 4xx.
 */
import { AppError } from '../../errors.ts';

export interface RelatedPart {
  /** Lower-cased media type of the part (without parameters); null when the part has no Content-Type. */
  readonly type: string | null;
  readonly body: Buffer;
}

export interface RelatedLimits {
  readonly maxParts: number;
  /** Most bytes of one part's header block. */
  readonly maxHeaderBytes?: number;
}

export interface MediaType {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
}

const MAX_BOUNDARY = 70;
/** RFC 2046 bchars: what a boundary may consist of (a space only inside, never last). */
const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$/;
const CRLF = Buffer.from('\r\n', 'latin1');
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * A Content-Type value: `type/subtype; name=value; name="quoted value"`, parameter names
 * lower-cased. Read character by character (quoted strings may hold semicolons), at most 4096 characters.
 */
export function parseMediaType(header: string): MediaType {
  const text = header.slice(0, 4096);
  const semi = text.indexOf(';');
  const type = (semi === -1 ? text : text.slice(0, semi)).trim().toLowerCase();
  const params = new Map<string, string>();
  let i = semi === -1 ? text.length : semi + 1;
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ';')) i++;
    const eq = text.indexOf('=', i);
    if (eq === -1) break;
    const name = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      const end = text.indexOf(';', i);
      value = (end === -1 ? text.slice(i) : text.slice(i, end)).trim();
      i = end === -1 ? text.length : end;
    }
    if (name && !params.has(name)) params.set(name, value);
  }
  return { type, params };
}

/** The boundary parameter, checked against RFC 2046 (1-70 characters of bchars, not ending in a space). */
export function boundaryOf(media: MediaType): string {
  const boundary = media.params.get('boundary');
  if (boundary === undefined || boundary === '') {
    throw new AppError('BAD_REQUEST', 'multipart/related Content-Type has no boundary parameter');
  }
  if (boundary.length > MAX_BOUNDARY || !BOUNDARY_CHARS.test(boundary) || boundary.endsWith(' ')) {
    throw new AppError('BAD_REQUEST', `multipart/related boundary is not 1-${MAX_BOUNDARY} characters allowed by RFC 2046`);
  }
  return boundary;
}

function malformed(what: string): AppError {
  return new AppError('BAD_REQUEST', `multipart/related body is malformed: ${what}`);
}

/** The part's Content-Type from its header block (other headers are ignored). */
function partType(headers: string, index: number): string | null {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) {
      if (line.trim() === '') continue;
      throw malformed(`part ${index} has a header line without a colon`);
    }
    if (line.slice(0, colon).trim().toLowerCase() === 'content-type') return parseMediaType(line.slice(colon + 1)).type || null;
  }
  return null;
}

/**
 * The parts of a multipart/related body. Text before the first boundary (the preamble) and after
 * the closing one (the epilogue) is ignored, as RFC 2046 says.
 */
export function parseMultipartRelated(body: Buffer, boundary: string, limits: RelatedLimits): RelatedPart[] {
  const maxHeaderBytes = limits.maxHeaderBytes ?? 8192;
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.concat([CRLF, dash]);
  // The first boundary may open the body or follow a preamble (then it follows a CRLF).
  let at = body.subarray(0, dash.length).equals(dash) ? 0 : body.indexOf(delimiter);
  if (at === -1) throw malformed('the boundary does not occur in it');
  if (at > 0) at += CRLF.length;
  const parts: RelatedPart[] = [];
  for (;;) {
    at += dash.length;
    // After a boundary: "--" closes the body; else optional transport padding, then CRLF.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) break;
    while (body[at] === 0x20 || body[at] === 0x09) at++;
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a) throw malformed(`no line break after boundary ${parts.length}`);
    at += 2;
    if (parts.length === limits.maxParts) {
      throw new AppError('PAYLOAD_TOO_LARGE', `too many parts: at most ${limits.maxParts} instances per request`, { maxParts: limits.maxParts });
    }
    let headersEnd: number;
    if (body[at] === 0x0d && body[at + 1] === 0x0a) headersEnd = at; // no headers at all
    else {
      const window = body.subarray(at, Math.min(body.length, at + maxHeaderBytes + HEADER_END.length));
      const end = window.indexOf(HEADER_END);
      if (end === -1) throw malformed(`part ${parts.length} has no end of headers within ${maxHeaderBytes} bytes`);
      headersEnd = at + end + 2;
    }
    const type = partType(body.subarray(at, headersEnd).toString('latin1'), parts.length);
    const start = headersEnd + 2;
    const next = body.indexOf(delimiter, start);
    if (next === -1) throw malformed(`part ${parts.length} is not closed by the boundary`);
    parts.push({ type, body: body.subarray(start, next) });
    at = next + CRLF.length;
  }
  return parts;
}
