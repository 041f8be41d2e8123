// Memory management for the wasm core's linear memory. Long-lived regions (batch buffers,
// key slots) are allocated from the bottom; one-shot calls use the scratch area above them,
// which grows on demand. Released regions are wiped before reuse.

const PAGE = 65536;
const ALIGN = 16;

function alignUp(n: number): number {
  return (n + ALIGN - 1) & ~(ALIGN - 1);
}

interface Region {
  ptr: number;
  size: number;
}

/** A view of the module's memory with a bump allocator, a free list and a scratch area. */
export class WasmHeap {
  private bytesView: Uint8Array;
  private top: number;
  private readonly freeList: Region[] = [];

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = alignUp(base);
    this.bytesView = new Uint8Array(memory.buffer);
  }

  /** The whole memory as bytes; a fresh view after the memory grew. */
  get u8(): Uint8Array {
    // Growing wasm memory detaches the old buffer, so a zero length is the whole test.
    if (this.bytesView.byteLength === 0) {
      this.bytesView = new Uint8Array(this.memory.buffer);
    }
    return this.bytesView;
  }

  /** The underlying buffer, for building typed views of regions. */
  get buffer(): ArrayBuffer {
    return this.memory.buffer as ArrayBuffer;
  }

  /** Allocates a long-lived zeroed region of `size` bytes; returns its address. */
  alloc(size: number): number {
    const need = alignUp(Math.max(size, 1));
    const index = this.freeList.findIndex((r) => r.size === need);
    if (index >= 0) {
      const region = this.freeList[index]!;
      this.freeList.splice(index, 1);
      return region.ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + need);
    this.top = ptr + need;
    return ptr;
  }

  /** Wipes a region returned by alloc and makes it available again. */
  release(ptr: number, size: number): void {
    const need = alignUp(Math.max(size, 1));
    this.u8.fill(0, ptr, ptr + need);
    if (ptr + need === this.top) this.top = ptr;
    else this.freeList.push({ ptr, size: need });
  }

  /**
   * Returns the address of a scratch area of at least `size` bytes. It is valid until the
   * next alloc; callers wipe what they wrote before returning.
   */
  scratch(size: number): number {
    this.ensure(this.top + alignUp(size));
    return this.top;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    try {
      this.memory.grow(pages);
    } catch {
      throw new RangeError(`crypto core: cannot grow wasm memory to ${end} bytes`);
    }
    this.bytesView = new Uint8Array(this.memory.buffer);
  }
}
