/**
 * HTML building blocks of the report pages: text escaping, the numeric table
 * ({@linkcode htmlTable}) and the captioned figure around an inline SVG chart.
 *
 * @module
 */

import { formatNumber } from "../analysis/describe.ts";

/** One column of {@linkcode htmlTable}. */
export interface TableColumn {
  /** Key of the value in each row. */
  readonly key: string;
  /** Column header. */
  readonly label: string;
  /** Decimals for numbers; automatic (3 significant digits) when absent. */
  readonly decimals?: number;
}

/** Escapes `&`, `<`, `>` and `"` for HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function cell(value: unknown, decimals: number | undefined): string {
  if (typeof value === "number") {
    return decimals === undefined && Number.isInteger(value)
      ? value.toLocaleString("en-US")
      : formatNumber(value, decimals);
  }
  if (typeof value === "bigint") return value.toString();
  return escapeHtml(String(value ?? ""));
}

/**
 * Renders rows as an HTML table: numbers right-aligned and formatted with
 * `formatNumber()`, text escaped.
 *
 * @param rows The rows, e.g. `frame.toRecords()`.
 * @param columns The columns to show, in order.
 * @returns The `<table>` element as a string.
 *
 * @example A two-row table
 * ```ts
 * import { htmlTable } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const html = htmlTable([{ id: "a<b", rate: 54.71 }, { id: "c", rate: 61.3 }], [
 *   { key: "id", label: "prompt" },
 *   { key: "rate", label: "tokens/s", decimals: 1 },
 * ]);
 * assert.match(html, /<td>a&lt;b<\/td><td class="num">54\.7<\/td>/);
 * ```
 */
export function htmlTable(
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly TableColumn[],
): string {
  const head = columns.map((c) => `<th>${escapeHtml(c.label)}</th>`).join("");
  const body = rows.map((row) =>
    "<tr>" + columns.map((c) => {
      const value = row[c.key];
      const num = typeof value === "number" ? ' class="num"' : "";
      return `<td${num}>${cell(value, c.decimals)}</td>`;
    }).join("") + "</tr>"
  ).join("\n");
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** An inline SVG chart with its caption, as a `<figure>` element. */
export function figure(svg: string, caption: string): string {
  return `<figure>\n${svg}\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`;
}
