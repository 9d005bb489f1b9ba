// Room message IDs are Redis stream IDs (`ms-seq`): they grow with time within a room.

/** Orders two room message IDs: negative when `a` comes first, 0 when equal, positive when `b` does. */
export function compareIds(a, b) {
  const [am, as = '0'] = String(a).split('-');
  const [bm, bs = '0'] = String(b).split('-');
  // Compared as integers of any size: milliseconds and sequence numbers may exceed 2^53 in theory.
  return compareDigits(am, bm) || compareDigits(as, bs);
}

function compareDigits(a, b) {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
