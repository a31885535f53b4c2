/**
 * Compact per-row storage for the commands that must see every row before deciding (metrics,
 * vote): numbers in growable typed arrays (no object per row), answers interned once, and rows
 * grouped by problem with a counting sort. A million rows cost tens of MB, not the rows.
 */

type TypedArray = Float64Array | Int32Array | Uint32Array | Uint8Array;

/** A typed array that grows by doubling. */
export class Column<T extends TypedArray> {
  private data: T;
  length = 0;
  constructor(private readonly make: (n: number) => T, initial = 1024) {
    this.data = make(initial);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data as never);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i];
  }
}

/** Distinct strings, each stored once, by id (0-based); `id(null)` is -1. */
export class Interner {
  private readonly ids = new Map<string, number>();
  readonly values: string[] = [];
  id(s: string | null): number {
    if (s === null) return -1;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(s);
      this.ids.set(s, id);
    }
    return id;
  }
  clear(): void {
    this.ids.clear();
  }
}

/**
 * Row indices grouped by their group id (0..groups-1), in arrival order within a group:
 * `rows.subarray(start[g], start[g + 1])`. A counting sort: O(rows), two typed arrays.
 */
export function groupRows(groupOf: Column<Uint32Array>, groups: number): { rows: Uint32Array; start: Uint32Array } {
  const start = new Uint32Array(groups + 1);
  for (let i = 0; i < groupOf.length; i++) start[groupOf.get(i) + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const fill = start.slice(0, groups);
  const rows = new Uint32Array(groupOf.length);
  for (let i = 0; i < groupOf.length; i++) rows[fill[groupOf.get(i)]++] = i;
  return { rows, start };
}
