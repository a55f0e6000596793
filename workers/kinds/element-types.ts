// Numeric element types shared by `sort` and `stats`. Buffers hold elements little-endian.
import { endianness } from 'node:os'
import { Type, type Static } from '@sinclair/typebox'
import { KindError } from '../kind-api'

const arrayTypes = {
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array
}

export const ElementTypeSchema = Type.Union(
  [Type.Literal('u8'), Type.Literal('u16'), Type.Literal('u32'), Type.Literal('i32'), Type.Literal('f32'), Type.Literal('f64')],
  { description: 'Element type of the input: unsigned/signed integers or IEEE-754 floats, little-endian.' }
)
export type ElementType = Static<typeof ElementTypeSchema>
export type Elements = InstanceType<(typeof arrayTypes)[ElementType]>

const nativeIsLittleEndian = endianness() === 'LE'

export function elementSize (dtype: ElementType): number {
  return arrayTypes[dtype].BYTES_PER_ELEMENT
}

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

/** `length` elements of `dtype` over `buffer` from `byteOffset`, in native order (shared memory too). */
export function elementsOver (dtype: ElementType, buffer: ArrayBufferLike, byteOffset: number, length: number): Elements {
  return new arrayTypes[dtype](buffer as ArrayBuffer, byteOffset, length)
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
