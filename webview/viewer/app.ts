/**
 * The JSONL viewer UI: a virtualized table of fixed-height rows (any number of lines; the
 * scroll range is scaled past the browser's maximum element height), search / filter / group-by
 * bar, detail pane with safe Markdown + LaTeX rendering, stats bar, live tail.
 * Renders into light DOM so the document stylesheet (viewer.css, KaTeX's CSS) applies.
 */
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { styleProps } from './styleProps.js';
import { AUTO_COLUMNS, ROWS_PAGE, type FileInfo, type GroupSort, type GroupSummary, type RecordDetail, type RowData, type ViewRef, type QueryProgress } from '../../src/protocol/viewer.js';
import { connect, vscodeApi, type ViewerChannel } from './rpc.js';
import { loadRichRenderer, type RenderMode } from './richText.js';
import './longText.js';
import './columnProfile.js';
import { columnTemplate, nextSort, renderHeaderCells, type SortState } from './columnHeader.js';

const ROW_H = 24;
const PAGE = ROWS_PAGE;
/** Browsers cap element heights (~16M px in Firefox, ~33M in Chromium): scale beyond this. */
const MAX_SCROLL_PX = 8_000_000;
const GRADE_FIELDS = ['is_correct', 'predicted_answer'];
/** Pages of rows kept in the webview (the rest is fetched again when scrolled back to). */
const MAX_CACHED_PAGES = 40;

interface SavedState {
  columns?: string[];
  searchText?: string;
  regex?: boolean;
  caseSensitive?: boolean;
  searchField?: string;
  filter?: string;
  groupBy?: string;
  firstRow?: number;
  cursor?: number;
  renderMode?: RenderMode;
  follow?: boolean;
  cardField?: string;
  detailLine?: number;
  groupSort?: GroupSort;
  showProfile?: boolean;
  sort?: SortState;
  widths?: Record<string, number>;
}

type Progress = QueryProgress & { queryId: number; error?: string; cancelled?: boolean };

@customElement('sdg-jsonl-viewer')
export class JsonlViewer extends LitElement {
  private readonly channel: ViewerChannel = connect();
  private readonly saved: SavedState = (vscodeApi.getState() as SavedState | undefined) ?? {};

  @state() private info: FileInfo | undefined;
  @state() private fatal = '';
  @state() private columns: string[] = this.saved.columns ?? [];
  @state() private searchText = this.saved.searchText ?? '';
  @state() private regex = this.saved.regex ?? false;
  @state() private caseSensitive = this.saved.caseSensitive ?? false;
  @state() private searchField = this.saved.searchField ?? '';
  @state() private filter = this.saved.filter ?? '';
  @state() private groupBy = this.saved.groupBy ?? '';
  @state() private queryError: { part: string; message: string; column?: number } | undefined;
  @state() private queryId = 0;
  @state() private progress: Progress | undefined;
  @state() private cursor = this.saved.cursor ?? 0;
  @state() private firstRow = this.saved.firstRow ?? 0;
  @state() private viewportH = 400;
  @state() private detail: RecordDetail | undefined;
  @state() private detailError = '';
  @state() private renderMode: RenderMode = this.saved.renderMode ?? 'text';
  @state() private follow = this.saved.follow ?? false;
  @state() private selectedGroup = -1;
  @state() private groupRows: RowData[] = [];
  @state() private groupTotal = 0;
  @state() private cardField = this.saved.cardField ?? '';
  @state() private showColumns = false;
  @state() private showProfile = this.saved.showProfile ?? false;
  @state() private sort: SortState | undefined = this.saved.sort;
  @state() private widths: Record<string, number> = this.saved.widths ?? {};
  /** The host's sorted snapshot of the current view (0: unsorted or not ready). */
  @state() private sortId = 0;
  @state() private sortTotal = 0;
  @state() private sortError = '';
  @state() private groupSort: GroupSort = this.saved.groupSort ?? 'first';

  /** Rows (or groups) of the current view, by index; pages fetched on demand. */
  private cache = new Map<number, RowData | GroupSummary>();
  private pageState = new Map<number, 'pending' | number>();
  private viewKey = '';
  private restoreScroll = true;
  private resizeObs: ResizeObserver | undefined;
  private saveTimer: number | undefined;
  private columnsChosen = this.saved.columns !== undefined;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.channel.on('file', (f) => this.onFile(f));
    this.channel.on('queryProgress', (p) => this.onProgress(p));
    this.channel.on('fatal', (p) => (this.fatal = String(p?.message ?? 'cannot open the file')));
    document.addEventListener('keydown', this.onDocKey);
    performance.mark('sdg:ready-sent');
    this.channel.sendReady();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('keydown', this.onDocKey);
    this.resizeObs?.disconnect();
  }

  // ---- host notifications -------------------------------------------------------------

  private onFile(f: FileInfo): void {
    const prev = this.info;
    if (!prev) performance.mark('sdg:file');
    this.info = f;
    if (!this.columnsChosen) {
      // Until the user picks columns, show the first keys seen (they follow the file as it changes).
      const auto = f.stats.keys.slice(0, AUTO_COLUMNS).map((k) => k.name);
      if (auto.join('\u0001') !== this.columns.join('\u0001')) this.columns = auto;
    }
    const page = f.firstPage;
    if (!prev || prev.generation !== f.generation) {
      // First message, or the file was truncated/rewritten: start over (queries re-run).
      this.resetCache();
      if (prev) {
        this.detail = undefined;
        this.selectedGroup = -1;
        this.groupRows = [];
      }
      // On the first message (webview restored), keep the saved scroll position and detail.
      if (this.hasQuery()) void this.runQuery(!prev);
      else if (this.sort) void this.applySort(this.sort);
      if (!prev) this.restoreDetail();
      this.pendingFirstPage = page;
      return;
    }
    this.pendingFirstPage = page;
    if (this.viewKind() === 'all') {
      if (f.stats.size !== prev.stats.size) {
        // The old last line may have been completed (it was shown as incomplete): fetch it again.
        for (const n of [prev.stats.lines, f.stats.lines]) if (n > 0) this.pageState.delete(Math.floor((n - 1) / PAGE));
      }
      this.invalidatePartialPages();
      if (this.follow) this.scrollToRow(this.total() - 1);
    }
  }

  /** The host's first page (FileInfo.firstPage), taken before the next render (willUpdate). */
  private pendingFirstPage: FileInfo['firstPage'];

  /** Use the host's first page when it is what this view would fetch: no round trip for it. */
  private takeFirstPage(page: NonNullable<FileInfo['firstPage']>): void {
    if (this.viewKind() !== 'all' || this.sortId || this.pageState.has(0)) return;
    if (page.columns.join('\u0001') !== this.columns.join('\u0001')) return;
    page.rows.forEach((r, k) => this.cache.set(k, r));
    this.pageState.set(0, page.rows.length);
  }

  private onProgress(p: Progress): void {
    if (p.queryId !== this.queryId) return;
    this.progress = p;
    // Group counts (and a sorted order) change as the scan goes on: refetch what is visible.
    if (this.viewKind() === 'groups') this.pageState.clear();
    this.invalidatePartialPages();
    if (this.groupBy && this.selectedGroup >= 0) void this.loadGroupRows(false);
    if (this.follow && this.viewKind() === 'query') this.scrollToRow(this.total() - 1);
  }

  // ---- views ---------------------------------------------------------------------------

  private hasQuery(): boolean {
    return this.searchText !== '' || this.filter.trim() !== '' || this.groupBy !== '';
  }

  private viewKind(): 'all' | 'query' | 'groups' {
    if (!this.queryId) return 'all';
    return this.groupBy ? 'groups' : 'query';
  }

  private total(): number {
    const k = this.viewKind();
    if (k !== 'groups' && this.sortId) return this.sortTotal;
    if (k === 'all') return this.info?.stats.lines ?? 0;
    if (!this.progress) return 0;
    return k === 'groups' ? this.progress.groups : this.progress.matches;
  }

  private resetCache(): void {
    this.cache.clear();
    this.pageState.clear();
    this.viewKey = `${this.viewKind()}:${this.queryId}:${this.sortId}:${this.groupSort}:${this.columns.join('\u0001')}:${this.info?.generation ?? 0}`;
    this.requestUpdate();
  }

  /** Pages that came back short while the view was still growing must be fetched again. */
  private invalidatePartialPages(): void {
    const total = this.total();
    for (const [p, st] of this.pageState) if (typeof st === 'number' && st < PAGE && p * PAGE + st < total) this.pageState.delete(p);
    this.requestUpdate();
  }

  private ensurePages(from: number, to: number): void {
    const total = this.total();
    to = Math.min(to, total);
    for (let p = Math.floor(from / PAGE); p * PAGE < to; p++) if (!this.pageState.has(p)) void this.fetchPage(p);
  }

  private async fetchPage(p: number): Promise<void> {
    const key = this.viewKey;
    this.pageState.set(p, 'pending');
    try {
      const kind = this.viewKind();
      let items: Array<RowData | GroupSummary>;
      if (kind === 'groups') {
        items = (await this.channel.request('groups', { queryId: this.queryId, start: p * PAGE, count: PAGE, sort: this.groupSort })).groups;
      } else {
        const view: ViewRef = this.sortId ? { kind: 'sorted', sortId: this.sortId } : kind === 'all' ? { kind: 'all' } : { kind: 'query', queryId: this.queryId };
        items = (await this.channel.request('rows', { view, start: p * PAGE, count: PAGE, columns: this.columns })).rows;
      }
      if (key !== this.viewKey) return;
      items.forEach((it, k) => this.cache.set(p * PAGE + k, it));
      this.pageState.set(p, items.length);
      this.evictFarPages();
      this.requestUpdate();
    } catch {
      if (key === this.viewKey) this.pageState.delete(p);
    }
  }

  /** Keep the webview small: only pages near the viewport stay cached. */
  private evictFarPages(): void {
    if (this.pageState.size <= MAX_CACHED_PAGES) return;
    const here = Math.floor(this.firstRow / PAGE);
    const far = [...this.pageState.entries()].filter(([, st]) => st !== 'pending').map(([p]) => p).sort((a, b) => Math.abs(b - here) - Math.abs(a - here));
    for (const p of far.slice(0, this.pageState.size - MAX_CACHED_PAGES)) {
      this.pageState.delete(p);
      for (let i = p * PAGE; i < (p + 1) * PAGE; i++) this.cache.delete(i);
    }
  }

  private async runQuery(keepPosition = false): Promise<void> {
    this.save();
    if (this.queryId) void this.channel.request('cancelQuery', { queryId: this.queryId }).catch(() => undefined);
    this.queryError = undefined;
    this.selectedGroup = -1;
    this.groupRows = [];
    this.highlighter = undefined;
    this.sortId = 0;
    if (!this.hasQuery()) {
      this.queryId = 0;
      this.progress = undefined;
      this.resetCache();
      if (this.sort) void this.applySort(this.sort);
      return;
    }
    const search = this.searchText ? { text: this.searchText, regex: this.regex, caseSensitive: this.caseSensitive, field: this.searchField } : undefined;
    const r = await this.channel.request('query', { search, filter: this.filter, groupBy: this.groupBy });
    if (!r.ok) {
      this.queryError = { part: r.part, message: r.message, column: r.column };
      this.queryId = 0;
      this.progress = undefined;
      this.resetCache();
      return;
    }
    this.queryId = r.queryId;
    this.highlighter = search ? makeHighlighter(search.text, search.regex, search.caseSensitive) : undefined;
    this.highlightField = search?.field ?? '';
    this.progress = { queryId: r.queryId, scannedLines: 0, totalLines: this.info?.stats.lines ?? 0, matches: 0, groups: 0, done: false };
    this.resetCache();
    if (this.sort) void this.applySort(this.sort);
    if (keepPosition) {
      this.restoreScroll = true;
    } else {
      this.cursor = 0;
      this.firstRow = 0;
      this.setScrollTop(0);
    }
  }

  /** Ask the host for the current view sorted (all lines or the query's matches); none: unsorted. */
  private async applySort(sort: SortState | undefined): Promise<void> {
    this.sort = sort;
    this.sortError = '';
    this.save();
    const queryId = this.queryId;
    if (!sort || this.viewKind() === 'groups') {
      this.sortId = 0;
      this.resetCache();
      return;
    }
    const r = await this.channel.request('sort', { column: sort.column, desc: sort.desc, ...(queryId ? { queryId } : {}) }).catch((e: Error) => ({ ok: false as const, message: e.message }));
    if (this.sort !== sort || this.queryId !== queryId) return;
    if (!r.ok) {
      this.sortError = r.message;
      this.sortId = 0;
    } else {
      this.sortId = r.sortId;
      this.sortTotal = r.total;
    }
    this.resetCache();
  }

  private cancelQuery(): void {
    if (this.queryId) void this.channel.request('cancelQuery', { queryId: this.queryId });
  }

  private async openDetail(line: number): Promise<void> {
    this.detailError = '';
    try {
      this.detail = await this.channel.request('record', { line });
      this.save();
    } catch (e) {
      this.detail = undefined;
      this.detailError = (e as Error).message;
    }
  }

  private restoreDetail(): void {
    if (this.saved.detailLine !== undefined) void this.openDetail(this.saved.detailLine);
  }

  private async loadGroupRows(reset: boolean): Promise<void> {
    if (this.selectedGroup < 0 || !this.queryId) return;
    const g = this.selectedGroup;
    const start = reset ? 0 : 0;
    const count = Math.max(50, reset ? 50 : this.groupRows.length);
    const cols = [...new Set([...this.columns, ...GRADE_FIELDS, ...(this.cardField ? [this.cardField] : [])])];
    try {
      const r = await this.channel.request('rows', { view: { kind: 'group', queryId: this.queryId, group: g }, start, count: Math.min(count, 500), columns: cols });
      if (g !== this.selectedGroup) return;
      this.groupRows = r.rows;
      this.groupTotal = r.total;
      this.cardColumns = cols;
    } catch {
      /* the query was replaced meanwhile */
    }
  }

  private cardColumns: string[] = [];
  /** Marks search matches in cells (the search of the current query). */
  private highlighter: RegExp | undefined;
  private highlightField = '';

  private cellText(text: string, column: string): TemplateResult | string {
    const re = this.highlighter;
    const shown = flat(text);
    if (!re || (this.highlightField && this.highlightField !== column)) return shown;
    const parts: Array<TemplateResult | string> = [];
    let last = 0;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    for (let n = 0; n < 20 && (m = re.exec(shown)) !== null; n++) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      parts.push(shown.slice(last, m.index), html`<mark>${m[0]}</mark>`);
      last = m.index + m[0].length;
    }
    if (parts.length === 0) return shown;
    parts.push(shown.slice(last));
    return html`${parts}`;
  }

  private async moreGroupRows(): Promise<void> {
    const g = this.selectedGroup;
    const cols = this.cardColumns;
    const r = await this.channel.request('rows', { view: { kind: 'group', queryId: this.queryId, group: g }, start: this.groupRows.length, count: 100, columns: cols });
    if (g === this.selectedGroup) this.groupRows = [...this.groupRows, ...r.rows];
  }

  // ---- scrolling -------------------------------------------------------------------------

  private get scroller(): HTMLElement | null {
    return this.querySelector<HTMLElement>('.scroller');
  }

  private visibleRows(): number {
    return Math.max(1, Math.floor(this.viewportH / ROW_H));
  }

  private geometry(): { virtualH: number; maxScroll: number; maxFirst: number } {
    const total = this.total();
    const virtualH = Math.min(total * ROW_H, MAX_SCROLL_PX);
    const maxScroll = Math.max(0, virtualH - this.viewportH);
    const maxFirst = Math.max(0, total - this.viewportH / ROW_H);
    return { virtualH, maxScroll, maxFirst };
  }

  private onScroll = (): void => {
    const el = this.scroller;
    // While a saved position waits to be restored, scroll events come from the view resizing.
    if (!el || this.restoreScroll) return;
    const g = this.geometry();
    this.firstRow = g.maxScroll > 0 ? (el.scrollTop / g.maxScroll) * g.maxFirst : 0;
    this.scheduleSave();
  };

  private setScrollTop(first: number): void {
    const el = this.scroller;
    const g = this.geometry();
    const clamped = Math.max(0, Math.min(first, g.maxFirst));
    this.firstRow = clamped;
    if (el) el.scrollTop = g.maxFirst > 0 ? (clamped / g.maxFirst) * g.maxScroll : 0;
  }

  private scrollToRow(i: number): void {
    const vis = this.viewportH / ROW_H;
    if (i < this.firstRow) this.setScrollTop(i);
    else if (i + 1 > this.firstRow + vis) this.setScrollTop(i + 1 - vis);
  }

  private moveCursor(to: number): void {
    const total = this.total();
    if (total === 0) return;
    this.cursor = Math.max(0, Math.min(total - 1, to));
    this.scrollToRow(this.cursor);
    this.scheduleSave();
    // With the detail pane open, it follows the selection (debounced for held-down keys).
    if (this.detail && this.viewKind() !== 'groups') {
      window.clearTimeout(this.followTimer);
      this.followTimer = window.setTimeout(() => {
        const r = this.cache.get(this.cursor) as RowData | undefined;
        if (r && this.detail && r.line !== this.detail.line) void this.openDetail(r.line);
      }, 120);
    }
  }

  private followTimer: number | undefined;

  private activate(i: number): void {
    const item = this.cache.get(i);
    if (!item) return;
    if (this.viewKind() === 'groups') {
      this.selectedGroup = (item as GroupSummary).index;
      void this.loadGroupRows(true);
    } else void this.openDetail((item as RowData).line);
  }

  private onListKey = (e: KeyboardEvent): void => {
    const page = this.visibleRows();
    const keys: Record<string, () => void> = {
      ArrowDown: () => this.moveCursor(this.cursor + 1),
      ArrowUp: () => this.moveCursor(this.cursor - 1),
      PageDown: () => this.moveCursor(this.cursor + page),
      PageUp: () => this.moveCursor(this.cursor - page),
      Home: () => this.moveCursor(0),
      End: () => this.moveCursor(this.total() - 1),
      Enter: () => this.activate(this.cursor),
      Escape: () => {
        this.detail = undefined;
        this.save();
      },
    };
    const f = keys[e.key];
    if (f) {
      e.preventDefault();
      f();
    }
  };

  private onDocKey = (e: KeyboardEvent): void => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
      e.preventDefault();
      const tf = this.querySelector<HTMLElement & { focus(): void }>('#search');
      tf?.focus();
    }
  };

  override firstUpdated(): void {
    this.resizeObs = new ResizeObserver(() => {
      const el = this.scroller;
      if (el && el.clientHeight > 0) this.viewportH = el.clientHeight;
    });
  }

  protected override willUpdate(changed: PropertyValues): void {
    // Before rendering, so the rows drawn (and the pages they request) are for the new columns.
    if (changed.has('columns')) this.resetCache();
    const page = this.pendingFirstPage;
    this.pendingFirstPage = undefined;
    if (page) this.takeFirstPage(page);
  }

  protected override updated(changed: PropertyValues): void {
    const el = this.scroller;
    if (el && this.resizeObs && !el.dataset.observed) {
      el.dataset.observed = '1';
      this.resizeObs.observe(el);
      this.viewportH = el.clientHeight || this.viewportH;
      this.restoreScroll = true;
    }
    // Restore the saved position once the view is long enough (or has finished growing).
    const settled = this.viewKind() === 'all' ? this.info !== undefined && !this.info.stats.indexing : this.progress?.done === true;
    if (el && this.restoreScroll && (settled || (this.total() > 0 && this.total() >= this.firstRow + this.visibleRows()))) {
      this.restoreScroll = false;
      this.setScrollTop(this.firstRow);
    }
    // Timings (see boot.ts): the first record on screen.
    if (!this.firstRowsMarked && this.cache.has(0) && this.viewKind() === 'all') {
      this.firstRowsMarked = true;
      performance.mark('sdg:first-rows');
      // Fetch the Markdown/LaTeX renderer now the rows are drawn, before a record is opened.
      setTimeout(() => void loadRichRenderer(), 100);
    }
  }

  private firstRowsMarked = false;

  // ---- state -----------------------------------------------------------------------------

  private scheduleSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = window.setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 300);
  }

  private save(): void {
    const s: SavedState = {
      columns: this.columnsChosen ? this.columns : undefined,
      searchText: this.searchText,
      regex: this.regex,
      caseSensitive: this.caseSensitive,
      searchField: this.searchField,
      filter: this.filter,
      groupBy: this.groupBy,
      firstRow: this.firstRow,
      cursor: this.cursor,
      renderMode: this.renderMode,
      follow: this.follow,
      cardField: this.cardField,
      detailLine: this.detail?.line,
      groupSort: this.groupSort,
      showProfile: this.showProfile,
      sort: this.sort,
      widths: this.widths,
    };
    vscodeApi.setState(s);
  }

  // ---- rendering -------------------------------------------------------------------------

  private keys(): string[] {
    return this.info?.stats.keys.map((k) => k.name) ?? [];
  }

  override render(): TemplateResult {
    if (this.fatal) return html`<div class="fatal" role="alert">Cannot show this file: ${this.fatal}</div>`;
    const grouped = this.viewKind() === 'groups';
    return html`
      ${this.renderToolbar()}
      ${this.queryError ? html`<div class="query-error" role="alert">${this.queryError.part === 'filter' ? 'Filter' : this.queryError.part === 'search' ? 'Search' : 'Group by'}: ${this.queryError.message}${this.renderCaret()}</div>` : nothing}
      ${this.sortError ? html`<div class="query-error" role="alert">Sort: ${this.sortError}</div>` : nothing}
      ${this.showColumns ? this.renderColumnChooser() : nothing}
      ${this.showProfile && this.info ? html`<sdg-column-profile .channel=${this.channel} .version=${`${this.info.generation}:${this.info.stats.size}`} .graded=${this.info.stats.correct + this.info.stats.incorrect > 0}
          @close=${() => { this.showProfile = false; this.save(); }}></sdg-column-profile>` : nothing}
      <vscode-split-layout class="main" initial-handle-position="60%">
        <div slot="start" class="pane-start">
          ${grouped
            ? html`<vscode-split-layout class="group-split" split="horizontal" initial-handle-position="45%">
                <div slot="start" class="pane-fill">${this.renderList()}</div>
                <div slot="end" class="pane-fill">${this.renderGroupCards()}</div>
              </vscode-split-layout>`
            : this.renderList()}
        </div>
        <div slot="end" class="pane-end">${this.renderDetail()}</div>
      </vscode-split-layout>
      ${this.renderStats()}
    `;
  }

  private renderCaret(): TemplateResult | typeof nothing {
    const c = this.queryError?.column;
    if (!c || this.queryError?.part !== 'filter') return nothing;
    return html`<pre class="caret">${this.filter}\n${' '.repeat(Math.max(0, c - 1))}^</pre>`;
  }

  private renderToolbar(): TemplateResult {
    const keys = this.keys();
    const busy = !!this.progress && !this.progress.done;
    const onEnter = (e: KeyboardEvent): void => {
      if (e.key === 'Enter') void this.runQuery();
    };
    return html`<div class="toolbar" role="search">
      <vscode-textfield id="search" placeholder="Search (Ctrl+F, Enter)" .value=${this.searchText} aria-label="Search text"
        @input=${(e: Event) => (this.searchText = (e.target as HTMLInputElement).value)} @keydown=${onEnter}></vscode-textfield>
      <vscode-checkbox .checked=${this.regex} @change=${(e: Event) => { this.regex = (e.target as HTMLInputElement).checked; void this.runQuery(); }}>Regex</vscode-checkbox>
      <vscode-checkbox title="Match case" .checked=${this.caseSensitive} @change=${(e: Event) => { this.caseSensitive = (e.target as HTMLInputElement).checked; void this.runQuery(); }}>Aa</vscode-checkbox>
      <vscode-single-select class="field-select" aria-label="Search in" .value=${this.searchField} @change=${(e: Event) => { this.searchField = (e.target as HTMLSelectElement).value; if (this.searchText) void this.runQuery(); }}>
        <vscode-option value="">All fields</vscode-option>
        ${keys.map((k) => html`<vscode-option value=${k}>${k}</vscode-option>`)}
      </vscode-single-select>
      <vscode-textfield id="filter" class="filter" placeholder="Filter: is_correct == false && seed < 4" .value=${this.filter} aria-label="Filter expression"
        @input=${(e: Event) => (this.filter = (e.target as HTMLInputElement).value)} @keydown=${onEnter}></vscode-textfield>
      <vscode-single-select class="group-select" aria-label="Group by" .value=${this.groupBy} @change=${(e: Event) => { this.groupBy = (e.target as HTMLSelectElement).value; void this.runQuery(); }}>
        <vscode-option value="">No grouping</vscode-option>
        ${keys.map((k) => html`<vscode-option value=${k}>Group by ${k}</vscode-option>`)}
      </vscode-single-select>
      <vscode-button @click=${() => void this.runQuery()}>Apply</vscode-button>
      <vscode-button secondary @click=${() => { this.searchText = ''; this.filter = ''; this.groupBy = ''; void this.runQuery(); }}>Clear</vscode-button>
      <vscode-button secondary @click=${() => (this.showColumns = !this.showColumns)} aria-expanded=${this.showColumns}>Columns</vscode-button>
      <vscode-button secondary @click=${() => { this.showProfile = !this.showProfile; this.save(); }} aria-expanded=${this.showProfile}>Profile</vscode-button>
      <vscode-checkbox .checked=${this.follow} @change=${(e: Event) => { this.follow = (e.target as HTMLInputElement).checked; this.save(); if (this.follow) this.moveCursor(this.total() - 1); }}>Follow</vscode-checkbox>
      ${busy ? html`<vscode-progress-ring class="ring" aria-label="Searching"></vscode-progress-ring>
          <span class="progress-text">${percent(this.progress!.scannedLines, this.progress!.totalLines)}</span>
          <vscode-button secondary @click=${() => this.cancelQuery()}>Cancel</vscode-button>` : nothing}
    </div>`;
  }

  private renderColumnChooser(): TemplateResult {
    const keys = this.keys();
    const extra = this.columns.filter((c) => !keys.includes(c));
    const toggle = (k: string, on: boolean): void => {
      this.columnsChosen = true;
      const chosen = new Set(this.columns);
      if (on) chosen.add(k);
      else chosen.delete(k);
      // Keep the file's key order; nested paths added by hand go last.
      this.columns = [...keys.filter((c) => chosen.has(c)), ...[...chosen].filter((c) => !keys.includes(c))];
      this.save();
    };
    const addPath = (e: KeyboardEvent): void => {
      if (e.key !== 'Enter') return;
      const input = e.target as HTMLInputElement;
      const path = input.value.trim();
      if (path && !this.columns.includes(path)) toggle(path, true);
      input.value = '';
    };
    return html`<div class="columns-chooser" role="group" aria-label="Columns">
      ${keys.length === 0 ? html`<span class="muted">No fields seen yet.</span>` : nothing}
      ${[...keys, ...extra].map((k) => html`<vscode-checkbox .checked=${this.columns.includes(k)} @change=${(e: Event) => toggle(k, (e.target as HTMLInputElement).checked)}>${k}</vscode-checkbox>`)}
      <vscode-textfield class="column-path" placeholder="Add a nested field: usage.completion_tokens" aria-label="Add a column by field path" @keydown=${addPath}></vscode-textfield>
    </div>`;
  }

  private renderList(): TemplateResult {
    const total = this.total();
    const grouped = this.viewKind() === 'groups';
    const g = this.geometry();
    const first = Math.floor(this.firstRow);
    const frac = this.firstRow - first;
    const count = this.visibleRows() + 2;
    this.ensurePages(first, first + count);
    const rows: TemplateResult[] = [];
    for (let i = first; i < Math.min(total, first + count); i++) rows.push(grouped ? this.renderGroupRow(i) : this.renderRow(i));
    const template = grouped ? 'minmax(120px, 3fr) 90px 180px' : columnTemplate(this.columns, this.widths);
    const gridStyle = styleProps({ 'grid-template-columns': template });
    const header = grouped
      ? html`<div class="row header group-header" ${gridStyle}><span>${this.groupBy}
          <vscode-single-select class="group-sort" aria-label="Order groups by" .value=${this.groupSort} @change=${(e: Event) => { this.groupSort = (e.target as HTMLSelectElement).value as GroupSort; this.save(); this.cursor = 0; this.setScrollTop(0); this.resetCache(); }}>
            <vscode-option value="first">in file order</vscode-option>
            <vscode-option value="count">most samples first</vscode-option>
            <vscode-option value="correct">least correct first</vscode-option>
            <vscode-option value="key">by value</vscode-option>
          </vscode-single-select></span><span>samples</span><span>correct</span></div>`
      : html`<div class="row header" ${gridStyle} role="row"><span>line</span>${renderHeaderCells(this.columns, this.sort, (c) => void this.applySort(nextSort(this.sort, c)), (c, px) => { this.widths = { ...this.widths, [c]: px }; this.scheduleSave(); })}</div>`;
    return html`<div class="list">
      ${header}
      <div class="scroller" tabindex="0" role="grid" aria-rowcount=${total} aria-label=${grouped ? 'Groups' : 'Rows'} @scroll=${this.onScroll} @keydown=${this.onListKey}>
        <div class="window" ${styleProps({ height: `${this.viewportH}px` })}>
          <div class="rows" ${styleProps({ transform: `translateY(${-frac * ROW_H}px)` })}>${rows}</div>
          ${total === 0 ? html`<div class="empty">${this.emptyText()}</div>` : nothing}
        </div>
        <div class="spacer" ${styleProps({ height: `${Math.max(0, g.virtualH - this.viewportH)}px` })}></div>
      </div>
    </div>`;
  }

  private emptyText(): string {
    if (!this.info) return 'Opening…';
    if (this.viewKind() !== 'all') return this.progress?.done ? 'No matches.' : 'Searching…';
    return this.info.stats.indexing ? 'Indexing…' : 'The file is empty.';
  }

  private renderRow(i: number): TemplateResult {
    const r = this.cache.get(i) as RowData | undefined;
    const gridStyle = styleProps({ 'grid-template-columns': columnTemplate(this.columns, this.widths) });
    const cls = `row ${i === this.cursor ? 'cursor' : ''} ${r && r.status !== 'ok' ? `status-${r.status}` : ''} ${r && r.correct === true ? 'correct' : r && r.correct === false ? 'incorrect' : ''}`;
    if (!r) return html`<div class=${cls} ${gridStyle} role="row"><span class="muted">…</span></div>`;
    const click = (): void => {
      this.cursor = i;
      void this.openDetail(r.line);
    };
    if (r.status !== 'ok' || r.preview !== undefined) {
      const label = r.status === 'bad' ? 'malformed' : r.status === 'partial' ? 'incomplete last line' : r.status === 'tooLong' ? 'too long to parse' : r.status === 'blank' ? 'blank line' : '';
      return html`<div class=${cls} ${gridStyle} role="row" @click=${click} title=${r.error ?? ''}>
        <span class="lineno">${r.line + 1}</span><span class="wide">${label ? html`<span class="tag">${label}</span> ` : nothing}${this.cellText(r.preview ?? '', '')}</span></div>`;
    }
    return html`<div class=${cls} ${gridStyle} role="row" @click=${click}>
      <span class="lineno">${r.line + 1}</span>${r.cells.map((c, k) => html`<span class=${c === null ? 'missing' : ''}>${c === null ? '' : this.cellText(c, this.columns[k])}</span>`)}</div>`;
  }

  private renderGroupRow(i: number): TemplateResult {
    const gsum = this.cache.get(i) as GroupSummary | undefined;
    const gridStyle = styleProps({ 'grid-template-columns': 'minmax(120px, 3fr) 90px 180px' });
    const cls = `row ${i === this.cursor ? 'cursor' : ''} ${gsum && gsum.index === this.selectedGroup ? 'selected' : ''}`;
    if (!gsum) return html`<div class=${cls} ${gridStyle}><span class="muted">…</span></div>`;
    const graded = gsum.correct + gsum.incorrect;
    const click = (): void => {
      this.cursor = i;
      this.activate(i);
    };
    return html`<div class=${cls} ${gridStyle} role="row" @click=${click}>
      <span title=${gsum.key}>${flat(gsum.key)}</span><span>${gsum.count.toLocaleString()}</span>
      <span>${graded ? html`<meter min="0" max="1" .value=${gsum.correct / graded}></meter> ${percent(gsum.correct, graded)} (${gsum.correct}/${graded})` : html`<span class="muted">not graded</span>`}</span></div>`;
  }

  private renderGroupCards(): TemplateResult {
    if (this.selectedGroup < 0) return html`<div class="hint">Select a group (Enter) to see its samples side by side.</div>`;
    const keys = this.keys();
    const field = this.cardField || this.columns.find((c) => !GRADE_FIELDS.includes(c)) || '';
    const idx = this.cardColumns.indexOf(field);
    const pIdx = this.cardColumns.indexOf('predicted_answer');
    return html`<div class="cards-bar">
        <span>${this.groupRows.length} of ${this.groupTotal} samples</span>
        <vscode-single-select aria-label="Text shown on cards" .value=${field} @change=${(e: Event) => { this.cardField = (e.target as HTMLSelectElement).value; this.save(); void this.loadGroupRows(true); }}>
          ${keys.map((k) => html`<vscode-option value=${k}>${k}</vscode-option>`)}
        </vscode-single-select>
        ${this.groupRows.length < this.groupTotal ? html`<vscode-button secondary @click=${() => void this.moreGroupRows()}>More</vscode-button>` : nothing}
      </div>
      <div class="cards">
        ${this.groupRows.map((r) => html`<div class="card ${r.correct === true ? 'correct' : r.correct === false ? 'incorrect' : ''}" tabindex="0"
            @click=${() => void this.openDetail(r.line)} @keydown=${(e: KeyboardEvent) => { if (e.key === 'Enter') void this.openDetail(r.line); }}>
          <div class="card-head">
            <span>line ${r.line + 1}</span>
            ${r.correct === true ? html`<vscode-badge class="ok">correct</vscode-badge>` : r.correct === false ? html`<vscode-badge class="bad">wrong</vscode-badge>` : nothing}
            ${pIdx >= 0 && r.cells[pIdx] !== null ? html`<span class="pred" title="predicted_answer">→ ${r.cells[pIdx]}</span>` : nothing}
          </div>
          <div class="card-body">${r.status !== 'ok' ? r.preview : idx >= 0 ? r.cells[idx] ?? '' : ''}</div>
        </div>`)}
      </div>`;
  }

  private renderDetail(): TemplateResult {
    if (this.detailError) return html`<div class="hint" role="alert">${this.detailError}</div>`;
    const d = this.detail;
    if (!d) return html`<div class="hint">Select a row and press Enter (or click it) to see the whole record.</div>`;
    return html`<div class="detail">
      <div class="detail-bar">
        <strong>Line ${d.line + 1}</strong>
        ${d.status !== 'ok' ? html`<vscode-badge>${d.status === 'bad' ? 'malformed' : d.status}</vscode-badge>` : nothing}
        <span class="muted">${d.bytes.toLocaleString()} bytes</span>
        <vscode-single-select aria-label="Render long text as" .value=${this.renderMode} @change=${(e: Event) => { this.renderMode = (e.target as HTMLSelectElement).value as RenderMode; this.save(); }}>
          <vscode-option value="text">Plain text</vscode-option>
          <vscode-option value="markdown">Markdown</vscode-option>
          <vscode-option value="math">Markdown + LaTeX</vscode-option>
        </vscode-single-select>
        <vscode-button secondary @click=${() => void this.channel.request('openInEditor', { line: d.line }).catch((e: Error) => (this.detailError = e.message))}>Open in editor</vscode-button>
        <vscode-button secondary title=${d.textTruncated ? 'Copies the part shown (the record is larger)' : 'Copy the record as JSON'} @click=${() => void navigator.clipboard?.writeText(d.text).catch(() => undefined)}>Copy</vscode-button>
        <vscode-button secondary @click=${() => { this.detail = undefined; this.save(); }}>Close</vscode-button>
      </div>
      ${d.note ? html`<div class="note">${d.note}</div>` : nothing}
      ${d.error ? html`<div class="query-error">${d.error}</div>` : nothing}
      ${d.fields.length === 0 ? html`<sdg-long-text .text=${d.text + (d.textTruncated ? '\n…' : '')}></sdg-long-text>` : nothing}
      ${d.fields.map((f) => html`<section class="field">
        <div class="field-name">${f.name} <span class="muted">${f.kind}${f.truncated ? `, first ${f.text.length.toLocaleString()} of ${f.totalChars.toLocaleString()} characters` : ''}</span></div>
        <sdg-long-text .text=${f.text} .mode=${f.kind === 'string' ? this.renderMode : 'text'} .codeBlocks=${f.kind === 'string'}></sdg-long-text>
      </section>`)}
      ${d.fields.length > 0 ? html`<details class="raw"><summary>JSON</summary><sdg-long-text .text=${d.text + (d.textTruncated ? '\n…' : '')}></sdg-long-text></details>` : nothing}
    </div>`;
  }

  private renderStats(): TemplateResult {
    const s = this.info?.stats;
    if (!s) return html`<div class="statusbar">Opening…</div>`;
    const graded = s.correct + s.incorrect;
    const analyzing = s.analyzedLines < s.lines || s.indexing;
    const p = this.progress;
    return html`<div class="statusbar" role="status">
      <span>${this.info!.fileName}</span>
      <span>${s.lines.toLocaleString()} lines${s.indexing ? html` (indexing ${percent(s.indexedBytes, s.size)})` : nothing}</span>
      <span>${s.records.toLocaleString()} records</span>
      ${s.malformed > 0 ? html`<a href="#" class="bad-link" title=${`Malformed lines: ${s.malformedLines.slice(0, 20).map((l) => l + 1).join(', ')}${s.malformed > 20 ? '…' : ''}`}
          @click=${(e: Event) => { e.preventDefault(); this.filter = '$bad'; this.searchText = ''; this.groupBy = ''; void this.runQuery(); }}>${s.malformed.toLocaleString()} malformed (lines ${s.malformedLines.slice(0, 5).map((l) => l + 1).join(', ')}${s.malformed > 5 ? ', …' : ''})</a>` : nothing}
      ${s.blank > 0 ? html`<span>${s.blank.toLocaleString()} blank</span>` : nothing}
      ${s.tooLong > 0 ? html`<span>${s.tooLong.toLocaleString()} too long to parse</span>` : nothing}
      ${s.partialLastLine ? html`<span class="warn">last line incomplete</span>` : nothing}
      ${graded > 0 ? html`<span>correct ${percent(s.correct, graded)} (${s.correct.toLocaleString()}/${graded.toLocaleString()})</span>` : nothing}
      ${analyzing ? html`<span class="muted">analyzing ${percent(s.analyzedLines, s.lines)}</span>` : nothing}
      ${p ? html`<span>${this.groupBy ? `${p.groups.toLocaleString()} groups, ` : ''}${p.matches.toLocaleString()} matching${p.done ? '' : ` (${percent(p.scannedLines, p.totalLines)} scanned)`}${p.cancelled ? ' (cancelled)' : ''}</span>` : nothing}
      ${p?.error ? html`<span class="warn">${p.error}</span>` : nothing}
      ${p?.warning ? html`<span class="warn" role="status">${p.warning}</span>` : nothing}
      ${s.warning ? html`<span class="warn">${s.warning}</span>` : nothing}
    </div>`;
  }
}

function percent(a: number, b: number): string {
  if (b <= 0) return '100%';
  return `${((100 * a) / b).toFixed(a === b ? 0 : 1)}%`;
}

/** A global regex for marking matches in the webview; undefined when the pattern is invalid here. */
function makeHighlighter(text: string, regex: boolean, caseSensitive: boolean): RegExp | undefined {
  try {
    const src = regex ? text : text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(src, caseSensitive ? 'g' : 'gi');
  } catch {
    return undefined;
  }
}

/** One-line display of a cell: newlines and tabs shown as symbols. */
function flat(s: string): string {
  return s.replace(/\r?\n/g, ' ⏎ ').replace(/\t/g, ' ');
}
