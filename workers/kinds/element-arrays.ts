// The typed arrays behind each element type, with no other dependency: the parallel sort's
// helper threads load only this (element-types.ts, with the params schema, pulls in TypeBox,
// which made a helper thread take ~100 ms longer to start).
export const arrayTypes = {
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array
}

export type ElementType = keyof typeof arrayTypes
export type Elements = InstanceType<(typeof arrayTypes)[ElementType]>

export function elementSize (dtype: ElementType): number {
  return arrayTypes[dtype].BYTES_PER_ELEMENT
}

/** `length` elements of `dtype` over `buffer` from `byteOffset`, in native order (shared memory too). */
export function elementsOver (dtype: ElementType, buffer: ArrayBufferLike, byteOffset: number, length: number): Elements {
  return new arrayTypes[dtype](buffer as ArrayBuffer, byteOffset, length)
}
