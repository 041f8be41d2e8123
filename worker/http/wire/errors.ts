// Errors of the HTTP/1.1 wire codecs. A parse error names what was wrong and the byte (counted
// from the start of what the parser was fed) where it saw it, so a hostile or broken server's
// answer can be diagnosed from the message alone.

/** A response the parser refuses: `what` went wrong at byte `offset` of the parsed input. */
export class HttpParseError extends Error {
  override readonly name = "HttpParseError";
  constructor(
    readonly what: string,
    readonly offset: number,
  ) {
    super(`HTTP parse error: ${what} at byte ${offset}`);
  }
}

/** A request head that cannot be sent as asked (a header value with CR/LF, a bad method...). */
export class HttpEncodeError extends Error {
  override readonly name = "HttpEncodeError";
}
