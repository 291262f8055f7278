// JSON helpers the protocol needs beyond JSON.parse (SPEC §1.3, §6.2 step 1):
// JSON.parse maps `1.0` and `1` to the same number, but protocol integers must be written
// without fraction or exponent, so the source text of a few members is inspected.

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;

/** True if `text` is the source of a protocol integer (no fraction/exponent, safe range). */
export function isIntegerText(text) {
  return INTEGER_TEXT.test(text) && Number.isSafeInteger(Number(text));
}

function skipWs(text, i) {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i += 1;
    else break;
  }
  return i;
}

function skipString(text, i) {
  // text[i] === '"'; returns the index after the closing quote
  i += 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length;
    let backslashes = 0;
    for (let k = q - 1; k >= i && text.charCodeAt(k) === 0x5c; k -= 1) backslashes += 1;
    if (backslashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

function skipValue(text, i) {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    while (i < text.length) {
      const d = text[i];
      if (d === '"') {
        i = skipString(text, i);
        continue;
      }
      if (d === "{" || d === "[") depth += 1;
      else if (d === "}" || d === "]") {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    return i;
  }
  while (i < text.length && !",}] \t\r\n".includes(text[i])) i += 1;
  return i;
}

/**
 * The source text of each member of the JSON object `text` (already known to be valid
 * JSON), last occurrence winning like JSON.parse. Returns a Map name -> raw text.
 */
export function rawMembers(text) {
  const out = new Map();
  let i = skipWs(text, 0);
  if (text[i] !== "{") return out;
  i = skipWs(text, i + 1);
  while (i < text.length && text[i] !== "}") {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd));
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const end = skipValue(text, i);
    out.set(key, text.slice(i, end));
    i = skipWs(text, end);
    if (text[i] === ",") i = skipWs(text, i + 1);
  }
  return out;
}

/** The raw text of member `name` of the object `text`, nested by `path` (names). */
export function rawMember(text, ...path) {
  let raw = text;
  for (const name of path) {
    const members = rawMembers(raw);
    if (!members.has(name)) return undefined;
    raw = members.get(name);
  }
  return raw;
}

const encoder = new TextEncoder();

/** UTF-8 byte length of a string. */
export function utf8Length(text) {
  return Buffer.byteLength(text, "utf8");
}

/** Cut `text` to at most `limit` UTF-8 bytes on a character boundary; returns [head, rest]. */
export function splitUtf8(text, limit) {
  if (Buffer.byteLength(text, "utf8") <= limit) return [text, ""];
  const bytes = encoder.encode(text);
  let cut = limit;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut -= 1;
  const head = Buffer.from(bytes.subarray(0, cut)).toString("utf8");
  return [head, text.slice(head.length)];
}
