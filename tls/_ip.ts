/**
 * Private helpers: IP address text to and from the bytes of an X.509
 * `iPAddress` subject alternative name.
 *
 * @module
 */

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    // Decimal only, no leading zeros (which some parsers read as octal).
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(16);
  let tail = text;
  let tailBytes: Uint8Array | undefined;
  // A trailing dotted IPv4 part fills the last 4 bytes (e.g. ::ffff:1.2.3.4).
  const lastColon = tail.lastIndexOf(":");
  if (lastColon >= 0 && tail.slice(lastColon + 1).includes(".")) {
    tailBytes = parseIpv4(tail.slice(lastColon + 1));
    if (tailBytes === undefined) return undefined;
    tail = `${tail.slice(0, lastColon + 1)}0:0`;
  }
  const halves = tail.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      groups.push(parseInt(group, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0]);
  const rest = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (head === undefined || rest === undefined) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const groups = [...head, ...new Array(8 - total).fill(0), ...rest];
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  if (tailBytes !== undefined) bytes.set(tailBytes, 12);
  return bytes;
}

/**
 * Parses an IPv4 (`127.0.0.1`) or IPv6 (`::1`) address to its 4 or 16 bytes.
 * Returns `undefined` for anything else, including zone IDs (`fe80::1%eth0`)
 * and CIDR suffixes.
 */
export function parseIpAddress(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/**
 * Formats the bytes of an `iPAddress` name: dotted quad for 4 bytes, the
 * RFC 5952 canonical form for 16 bytes, and `#` + hex for any other length.
 */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) {
    return `#${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // The longest run of two or more zero groups (the first one on a tie) is "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
