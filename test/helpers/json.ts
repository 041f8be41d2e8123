// Typed readers of JSON answers the tests get from the control server's API: a reply's body is
// `unknown`, and these check the shape they read so a wrong answer fails with what was missing
// and where, not with "cannot read properties of undefined" further on.

/** `value` as a JSON object; throws naming `where` when it is not one. */
export function jsonObject(value: unknown, where = "the answer"): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${where} is not a JSON object: ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The string `value[key]`; throws naming the key when absent or not a string. */
export function jsonString(value: unknown, key: string): string {
  const field = jsonObject(value)[key];
  if (typeof field !== "string") {
    throw new Error(`the answer's "${key}" is not a string: ${JSON.stringify(value)}`);
  }
  return field;
}

/** The array of objects `value[key]`; throws naming the key when it is not one. */
export function jsonList(value: unknown, key: string): Record<string, unknown>[] {
  const field = jsonObject(value)[key];
  if (!Array.isArray(field)) {
    throw new Error(`the answer's "${key}" is not an array: ${JSON.stringify(value)}`);
  }
  return field.map((item, i) => jsonObject(item, `the answer's ${key}[${i}]`));
}

/** A user as GET /api/v1/users lists them (the fields tests read). */
export interface ApiUser {
  id: number;
  email: string;
}

/** The `users` of a GET /api/v1/users answer, each with a numeric id and a string email. */
export function jsonUsers(value: unknown): ApiUser[] {
  return jsonList(value, "users").map((u, i) => {
    if (typeof u.id !== "number" || typeof u.email !== "string") {
      throw new Error(
        `the answer's users[${i}] lacks a numeric id or an email: ${JSON.stringify(u)}`,
      );
    }
    return { ...u, id: u.id, email: u.email };
  });
}
