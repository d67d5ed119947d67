// CRC-32 (IEEE 802.3). Ten lines copied in rather than a dependency: it only guards
// against mangled pastes, never against forgery, so speed and size are all that matter.
const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** CRC-32 of an ASCII string. */
export function crc32(text: string): number {
  let c = 0xffffffff
  for (let i = 0; i < text.length; i++) c = TABLE[(c ^ text.charCodeAt(i)) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
