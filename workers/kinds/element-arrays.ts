// The typed arrays behind each element type, with no other dependency: the parallel sort's
// helper threads load only this (element-types.ts, with the params schema, pulls in TypeBox,
// which made a helper thread take ~100 ms longer to start).
export const arrayTypes = {
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  u64: BigUint64Array,
  i8: Int8Array,
  i16: Int16Array,
  i32: Int32Array,
  i64: BigInt64Array,
  f32: Float32Array,
  f64: Float64Array
}

export type ElementType = keyof typeof arrayTypes
export type Elements = InstanceType<(typeof arrayTypes)[ElementType]>

/** Every element type, in the order the params schema lists them. */
export const ELEMENT_TYPES = Object.keys(arrayTypes) as ElementType[]

/** 64-bit integers: their elements are BigInts, and their sums and extremes need BigInt too. */
export function isBigIntType (dtype: ElementType): dtype is 'u64' | 'i64' {
  return dtype === 'u64' || dtype === 'i64'
}

export function elementSize (dtype: ElementType): number {
  return arrayTypes[dtype].BYTES_PER_ELEMENT
}

/** `length` elements of `dtype` over `buffer` from `byteOffset`, in native order (shared memory too). */
export function elementsOver (dtype: ElementType, buffer: ArrayBufferLike, byteOffset: number, length: number): Elements {
  return new arrayTypes[dtype](buffer as ArrayBuffer, byteOffset, length)
}
