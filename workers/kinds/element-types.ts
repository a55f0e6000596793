// Numeric element types shared by `sort` and `stats`. Buffers hold elements little-endian.
import { endianness } from 'node:os'
import { Type } from '@sinclair/typebox'
import { KindError } from '../kind-api'
import { arrayTypes, elementSize, ELEMENT_TYPES, type ElementType, type Elements } from './element-arrays'

export { elementSize, elementsOver, ELEMENT_TYPES, isBigIntType, type ElementType, type Elements } from './element-arrays'

export const ElementTypeSchema = Type.Union(
  ELEMENT_TYPES.map((dtype) => Type.Literal(dtype)),
  { description: `Element type of the input, little-endian: ${ELEMENT_TYPES.join(', ')} (unsigned and signed integers of 8 to 64 bits, IEEE-754 floats).` }
)

/**
 * The params are validated before a job runs; this is for a kind called another way (tests, a
 * library user's own harness): an unknown dtype is refused with the values allowed.
 */
export function checkElementType (dtype: unknown): ElementType {
  if (typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(arrayTypes, dtype)) return dtype as ElementType
  throw new KindError('INVALID_PARAMS', `dtype ${JSON.stringify(dtype)} is not one of ${ELEMENT_TYPES.join(', ')}`)
}

const nativeIsLittleEndian = endianness() === 'LE'

/** Number of elements in `byteLength` bytes; a partial trailing element is an input error. */
export function elementCount (dtype: ElementType, byteLength: number): number {
  const size = elementSize(dtype)
  if (byteLength % size !== 0) {
    throw new KindError('INVALID_INPUT',
      `input is ${byteLength} bytes, not a whole number of ${size}-byte ${dtype} elements`)
  }
  return byteLength / size
}

/**
 * A zero-copy view of `bytes` as elements, or undefined when one is impossible: typed arrays need
 * an offset aligned to the element size, and they read in native order, so a big-endian host
 * cannot view little-endian data directly.
 */
export function directView (dtype: ElementType, bytes: Uint8Array): Elements | undefined {
  const Ctor = arrayTypes[dtype]
  if (!nativeIsLittleEndian || bytes.byteOffset % Ctor.BYTES_PER_ELEMENT !== 0) return undefined
  // The cast only narrows ArrayBufferLike for the constructor union; Buffers are never shared memory.
  return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT)
}

/** Reorders bytes in place between little-endian and native order (a no-op on little-endian hosts). */
function swapToNative (dtype: ElementType, bytes: Uint8Array): void {
  if (nativeIsLittleEndian) return
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const size = elementSize(dtype)
  if (size === 2) buf.swap16()
  else if (size === 4) buf.swap32()
  else if (size === 8) buf.swap64()
}

/** A native-order copy of little-endian `bytes`, in a fresh (so aligned) ArrayBuffer: safe to modify. */
export function copyElements (dtype: ElementType, bytes: Uint8Array): Elements {
  const copy = new Uint8Array(bytes)
  swapToNative(dtype, copy)
  return new arrayTypes[dtype](copy.buffer, 0, copy.byteLength / elementSize(dtype))
}

/** The elements of little-endian `bytes` for reading only: a direct view when possible, else a copy. */
export function readElements (dtype: ElementType, bytes: Uint8Array): Elements {
  return directView(dtype, bytes) ?? copyElements(dtype, bytes)
}

/** Writes native-order `elements` into `target` as little-endian bytes (any alignment). */
export function writeElements (dtype: ElementType, elements: Elements, target: Uint8Array): void {
  const bytes = new Uint8Array(elements.buffer, elements.byteOffset, elements.byteLength)
  target.set(bytes)
  swapToNative(dtype, target.subarray(0, bytes.byteLength))
}
