// Number and table formatting shared by the report's sections.

export const KIND_TITLES = {
  undici: 'undici Pool',
  agent: 'http.Agent keep-alive',
  autocannon: 'autocannon',
  idle: 'idle keep-alive clients',
};

export const fmt = (v, digits = 1) =>
  v === undefined || v === null || Number.isNaN(v)
    ? '–'
    : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
/** Milliseconds with as many decimals as they deserve. */
export const ms = (v) => (v === undefined || v === null ? '–' : `${fmt(v, v < 10 ? 2 : v < 100 ? 1 : 0)}`);

export function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
