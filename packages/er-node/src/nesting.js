// The nesting limit of the protocol (SPEC §5.7): a body's depth is the largest number of
// `[`/`{` outside strings open at once; over MAX_NESTING_DEPTH it is answered -32600
// `too-deep` and never parsed. JSON.parse copes with deep input, but the limit is the
// protocol's, not the parser's: every runner draws the line at the same depth.

export const MAX_NESTING_DEPTH = 128;

/**
 * null when `text` nests at most `limit` levels; otherwise `{ shallow }`, where `shallow` is
 * the body up to the top-level member that goes too deep, that value replaced by null and
 * the object closed (so its `id` can be read), or null when the body is not an object.
 */
export function tooDeep(text, limit = MAX_NESTING_DEPTH) {
  let opened = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) opened++;
  }
  if (opened <= limit) return null; // cheap: most bodies never get here
  let depth = 0;
  let memberStart = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === "[" || c === "{") {
      depth++;
      if (depth === 2) memberStart = i;
      if (depth > limit) {
        const isObject = text.trimStart().startsWith("{");
        return { shallow: isObject ? text.slice(0, memberStart) + "null}" : null };
      }
    } else if (c === "]" || c === "}") {
      depth = Math.max(0, depth - 1);
    }
  }
  return null;
}
