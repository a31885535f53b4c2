/**
 * The row list's column header: click a column to sort by it (ascending, descending, off; the
 * host sorts the whole view, src/core/viewer/sort.ts), drag a column's right edge to resize it.
 * Widths are CSS grid tracks set through the CSSOM (styleProps), never a style attribute.
 */
import { html, type TemplateResult } from 'lit';

export interface SortState {
  column: string;
  desc: boolean;
}

export const MIN_COLUMN_PX = 40;

/** grid-template-columns of the list: the line number, then each column (fixed when resized). */
export function columnTemplate(columns: readonly string[], widths: Readonly<Record<string, number>>): string {
  return `70px ${columns.map((c) => (widths[c] ? `${widths[c]}px` : 'minmax(80px, 1fr)')).join(' ')}`;
}

/** The next sort after a click on `column`: ascending, then descending, then none. */
export function nextSort(current: SortState | undefined, column: string): SortState | undefined {
  if (!current || current.column !== column) return { column, desc: false };
  return current.desc ? undefined : { column, desc: true };
}

export function renderHeaderCells(
  columns: readonly string[],
  sort: SortState | undefined,
  onSort: (column: string) => void,
  onResize: (column: string, px: number) => void,
): TemplateResult[] {
  const startDrag = (e: PointerEvent, column: string): void => {
    e.preventDefault();
    e.stopPropagation();
    const handle = e.currentTarget as HTMLElement;
    const cell = handle.parentElement!;
    const startX = e.clientX;
    const startW = cell.getBoundingClientRect().width;
    handle.setPointerCapture(e.pointerId);
    const move = (m: PointerEvent): void => onResize(column, Math.max(MIN_COLUMN_PX, Math.round(startW + m.clientX - startX)));
    const up = (): void => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
      handle.removeEventListener('pointercancel', up);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
    handle.addEventListener('pointercancel', up);
  };
  return columns.map((c) => {
    const sorted = sort?.column === c ? (sort.desc ? 'descending' : 'ascending') : 'none';
    return html`<span class="col-head" title=${`${c}: click to sort, drag the edge to resize`} role="columnheader" aria-sort=${sorted} data-column=${c}
        @click=${() => onSort(c)}>${c}${sorted === 'none' ? '' : sorted === 'ascending' ? ' ▲' : ' ▼'}<span class="col-resize" aria-hidden="true" @pointerdown=${(e: PointerEvent) => startDrag(e, c)} @click=${(e: Event) => e.stopPropagation()}></span></span>`;
  });
}
