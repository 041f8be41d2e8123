// The identification exchange: our line, the incremental parser of the server's, and a
// seeded fuzz of hostile streams.

import { describe, expect, it } from "vitest";
import {
  clientIdentification,
  encodeIdentification,
  IdentificationParser,
  type ServerIdentification,
} from "../../worker/ssh/version.ts";
import { SshProtocolError } from "../../worker/ssh/wire.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function parseAll(text: string | Uint8Array): ServerIdentification | null {
  return new IdentificationParser().push(typeof text === "string" ? enc(text) : text);
}

function errorOf(text: string | Uint8Array): string {
  try {
    parseAll(text);
  } catch (e) {
    expect(e).toBeInstanceOf(SshProtocolError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("identification", () => {
  it("builds our identification line", () => {
    const id = clientIdentification("0.1.0");
    expect(id).toBe("SSH-2.0-Corridor_0.1.0");
    expect(new TextDecoder().decode(encodeIdentification(id))).toBe("SSH-2.0-Corridor_0.1.0\r\n");
    expect(() => clientIdentification("a b")).toThrow(RangeError);
    expect(() => clientIdentification("1-2")).toThrow(RangeError);
  });

  it("parses OpenSSH's and Dropbear's lines with CRLF or bare LF, keeping the rest", () => {
    const r = parseAll("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n\x00\x00\x01");
    expect(r).not.toBeNull();
    expect(r!.protoVersion).toBe("2.0");
    expect(r!.softwareVersion).toBe("OpenSSH_9.2p1");
    expect(r!.comments).toBe("Debian-2+deb12u3");
    expect(r!.identification).toBe("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
    expect([...r!.rest]).toEqual([0, 0, 1]);
    const d = parseAll("SSH-2.0-dropbear_2022.83\n");
    expect(d!.softwareVersion).toBe("dropbear_2022.83");
    expect(d!.comments).toBeNull();
    expect(d!.rest.length).toBe(0);
    expect(parseAll("SSH-1.99-Old\r\n")!.protoVersion).toBe("1.99");
  });

  it("tolerates banner lines and byte-at-a-time feeding", () => {
    const text = "Welcome\r\n\r\nbare lf line\nSSH-2.0-X_1 c\r\nREST";
    const p = new IdentificationParser();
    const bytes = enc(text);
    let result: ServerIdentification | null = null;
    let rest: number[] = [];
    for (let i = 0; i < bytes.length && result === null; i++) {
      result = p.push(bytes.subarray(i, i + 1));
      if (result !== null) rest = [...bytes.subarray(i + 1)];
    }
    expect(result!.bannerLines).toEqual(["Welcome", "", "bare lf line"]);
    expect(result!.identification).toBe("SSH-2.0-X_1 c");
    expect(result!.rest.length).toBe(0);
    expect(new TextDecoder().decode(new Uint8Array(rest))).toBe("REST");
    expect(() => p.push(enc("x"))).toThrow(SshProtocolError);
  });

  it("returns null until the line is complete", () => {
    const p = new IdentificationParser();
    expect(p.push(enc("SSH-2.0-Open"))).toBeNull();
    expect(p.push(enc("SSH_9\r"))).toBeNull();
    expect(p.push(enc("\n"))!.softwareVersion).toBe("OpenSSH_9");
  });

  it("rejects violations with clear errors", () => {
    expect(errorOf("SSH-1.5-Old\r\n")).toMatch(/unsupported protocol version "1.5"/);
    expect(errorOf("SSH-2.0\r\n")).toMatch(/no software version/);
    expect(errorOf("SSH-2.0- comment\r\n")).toMatch(/empty software version/);
    expect(errorOf("SSH-2.0-X\x01\r\n")).toMatch(/non-printable byte 0x01/);
    expect(errorOf("hello\x00\r\n")).toMatch(/NUL byte at stream offset 5/);
    expect(parseAll(`${"a".repeat(253)}\r\nSSH-2.0-X\r\n`)!.bannerLines[0]!.length).toBe(253);
    expect(errorOf(`${"a".repeat(254)}\r\n`)).toMatch(/line 1 longer than 255 bytes/);
    expect(errorOf(`SSH-2.0-${"a".repeat(260)}`)).toMatch(/longer than 255/);
    expect(errorOf("x\n".repeat(1025))).toMatch(/more than 1024 banner lines/);
    expect(errorOf(`${"a".repeat(200)}\n`.repeat(400))).toMatch(/first 65536 bytes/);
    const p = new IdentificationParser();
    expect(() => p.push(enc("SSH-3.0-X\n"))).toThrow(/unsupported/);
    expect(() => p.push(enc("SSH-2.0-X\n"))).toThrow(/unsupported/);
  });

  it("survives a seeded fuzz of hostile streams", () => {
    const rand = seededBytes(0x7e5101);
    const int = seededInts(0x7e5102);
    const pieces = ["SSH-", "2.0", "1.99", "-", " ", "\r", "\n", "\r\n", "OpenSSH_9.2", "\x00"];
    const counts = { identified: 0, needMore: 0, rejected: 0 };
    for (let i = 0; i < 20000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = rand(int(600));
      } else {
        let s = "";
        const n = int(40);
        for (let j = 0; j < n; j++) {
          s += int(4) === 0 ? String.fromCharCode(int(256)) : pieces[int(pieces.length)]!;
        }
        bytes = new Uint8Array([...s].map((c) => c.charCodeAt(0) & 0xff));
      }
      const p = new IdentificationParser();
      let result: ServerIdentification | null = null;
      try {
        for (let at = 0; at < bytes.length && result === null; ) {
          const step = 1 + int(50);
          result = p.push(bytes.subarray(at, at + step));
          at += step;
        }
        if (result === null) counts.needMore++;
        else counts.identified++;
      } catch (e) {
        if (!(e instanceof SshProtocolError)) throw e;
        counts.rejected++;
      }
    }
    console.log(`identification fuzz: 20000 streams, ${JSON.stringify(counts)}`);
    expect(counts.identified + counts.needMore + counts.rejected).toBe(20000);
    expect(counts.identified).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(0);
  });
});
