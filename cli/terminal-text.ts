/**
 * User data (file names, failure reasons) made safe to print on a terminal: a name may hold ESC
 * sequences that move the cursor or retitle the window, a carriage return that overwrites the line,
 * or a right-to-left override that shows `gpj.exe` as `exe.jpg`. Each such character is printed as
 * an escape instead (`\x1b`, `\u202e`), and a backslash as `\\`, so what is shown is unambiguous.
 */

/** `text` with every control, bidi or separator character (and backslash) written as an escape. */
export function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) {
      out += text.slice(i, i + 2); // a well-formed pair: one printable character beyond U+FFFF
      i++;
    } else if (code === 0x5c) out += "\\\\";
    else if (isUnsafe(code)) out += code <= 0xff ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
    else out += text[i];
  }
  return out;
}

/**
 * C0 controls, DEL, C1 controls; the Arabic letter mark, LRM and RLM; line and paragraph separators,
 * bidi embeddings and overrides; bidi isolates; and a surrogate not in a pair.
 */
function isUnsafe(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    isHighSurrogate(code) ||
    isLowSurrogate(code)
  );
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, "0");
