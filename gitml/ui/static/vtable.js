// A virtualised table: a fixed row height, and only the rows in view (plus a few) exist
// in the page, taken from a pool and moved into place on scroll. 10,000 rows or
// 1,000,000 cost the same to draw.

const OVERSCAN = 8;

export class VirtualTable {
  /**
   * options.rowHeight: px; options.fill(index, rowEl, cells): write row `index` into the
   * pooled row's cells (text only); options.header(column, cellEl): fill a header cell.
   */
  constructor(options) {
    this.rowHeight = options.rowHeight || 28;
    this.fill = options.fill;
    this.makeCell = options.makeCell || (() => document.createElement("div"));
    this.headerCell = options.header;
    this.columns = [];
    this.count = 0;
    this.version = 0;
    this.pool = [];
    this.el = document.createElement("div");
    this.el.className = "vt";
    this.el.setAttribute("role", "grid");
    this.head = document.createElement("div");
    this.head.className = "vt-head vt-row";
    this.head.setAttribute("role", "row");
    this.body = document.createElement("div");
    this.body.className = "vt-body";
    this.el.append(this.head, this.body);
    this.scheduled = false;
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.el);
  }

  /** columns: [{key, width}]; rebuilds the header and the row pool. */
  setColumns(columns) {
    this.columns = columns;
    const widths = columns.map((c) => `${c.width}px`).join(" ");
    this.el.style.setProperty("--cols", widths);
    const total = columns.reduce((sum, c) => sum + c.width, 0);
    this.el.style.setProperty("--table-width", `${total}px`);
    this.head.replaceChildren();
    for (const column of columns) {
      const cell = document.createElement("div");
      cell.className = "vt-cell vt-th";
      cell.setAttribute("role", "columnheader");
      cell.dataset.key = column.key;
      this.headerCell(column, cell);
      this.head.appendChild(cell);
    }
    for (const row of this.pool) row.el.remove();
    this.pool = [];
    this.invalidate();
  }

  /** The number of rows changed (or their content): redraw what is in view. */
  setCount(count) {
    this.count = count;
    this.body.style.height = `${count * this.rowHeight}px`;
    this.invalidate();
  }

  invalidate() {
    this.version++;
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** Draw now (also used right after data arrives, so the first paint has rows). */
  render() {
    const height = this.el.clientHeight || window.innerHeight;
    const top = Math.max(0, this.el.scrollTop - this.head.offsetHeight);
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const needed = Math.ceil(height / this.rowHeight) + 2 * OVERSCAN;
    const last = Math.min(this.count, first + needed);
    while (this.pool.length < needed && this.pool.length < this.count) this.pool.push(this.newRow());
    for (let k = 0; k < this.pool.length; k++) {
      const row = this.pool[k];
      const index = first + k;
      if (index >= last) {
        if (!row.el.hidden) row.el.hidden = true;
        row.index = -1;
        continue;
      }
      row.el.hidden = false;
      if (row.index === index && row.version === this.version) continue;
      row.index = index;
      row.version = this.version;
      row.el.style.transform = `translateY(${index * this.rowHeight}px)`;
      this.fill(index, row.el, row.cells);
    }
  }

  newRow() {
    const el = document.createElement("div");
    el.className = "vt-row";
    el.setAttribute("role", "row");
    const cells = this.columns.map((column) => {
      const cell = this.makeCell(column);
      cell.classList.add("vt-cell");
      el.appendChild(cell);
      return cell;
    });
    this.body.appendChild(el);
    return { el, cells, index: -1, version: -1 };
  }

  /** Scroll so that row `index` is in view. */
  scrollTo(index) {
    this.el.scrollTop = index * this.rowHeight;
  }

  destroy() {
    this.resizeObserver.disconnect();
  }
}
