// Argument checks shared by the crypto faces. Errors name the function, the parameter and
// what was expected, so a caller sees exactly which argument was wrong.

/** Throws a TypeError unless `value` is a Uint8Array. */
export function checkBytes(fn: string, param: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${fn}: ${param} must be a Uint8Array, got ${describe(value)}`);
  }
}

/** Throws a TypeError unless `value` is a Uint8Array of exactly `length` bytes. */
export function checkLength(
  fn: string,
  param: string,
  value: unknown,
  length: number,
): asserts value is Uint8Array {
  checkBytes(fn, param, value);
  if (value.length !== length) {
    throw new TypeError(`${fn}: ${param} must be ${length} bytes, got ${value.length}`);
  }
}

/** Throws a TypeError unless `value` is an integer in [min, max]. */
export function checkInteger(
  fn: string,
  param: string,
  value: unknown,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(
      `${fn}: ${param} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

/** Decodes standard base64 (the generated wasm modules). */
export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
